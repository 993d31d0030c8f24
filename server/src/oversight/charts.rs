//! The board's charts: server-rendered SVG from `plotters` (its SVG backend only), drawn from the
//! same figures as the tables beside them.

use plotters::prelude::*;

use super::figures::{Month, Ratio};
use super::pages::PageError;

const SIZE: (u32, u32) = (520, 260);
// Dark blue on white: over 7:1 contrast.
const LINE: RGBColor = RGBColor(0, 48, 120);

fn month_label(m: Month) -> String {
    const NAMES: [&str; 12] =
        ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    NAMES.get(m.1.saturating_sub(1) as usize).copied().unwrap_or("?").to_string()
}

fn failed<E: std::fmt::Debug>(e: E) -> PageError {
    tracing::error!(error = ?e, "chart not drawn");
    PageError::Internal
}

/// A line of the percentage met by month; months with nothing counted are left out of the line.
pub fn timeliness(title: &str, months: &[Month], ratios: &[Ratio]) -> Result<String, PageError> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
        root.fill(&WHITE).map_err(failed)?;
        let last = i32::try_from(months.len().saturating_sub(1)).unwrap_or(0);
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 16))
            .margin(10)
            .x_label_area_size(28)
            .y_label_area_size(40)
            .build_cartesian_2d(0..last.max(1), 0f64..100f64)
            .map_err(failed)?;
        chart
            .configure_mesh()
            .x_labels(months.len())
            .x_label_formatter(&|i| {
                usize::try_from(*i)
                    .ok()
                    .and_then(|i| months.get(i))
                    .map(|m| month_label(*m))
                    .unwrap_or_default()
            })
            .y_desc("% met")
            .draw()
            .map_err(failed)?;
        let points: Vec<(i32, f64)> = ratios
            .iter()
            .enumerate()
            .filter_map(|(i, r)| Some((i32::try_from(i).ok()?, r.percent()?)))
            .collect();
        chart.draw_series(LineSeries::new(points.clone(), LINE.stroke_width(2))).map_err(failed)?;
        chart
            .draw_series(points.iter().map(|p| Circle::new(*p, 3, LINE.filled())))
            .map_err(failed)?;
        root.present().map_err(failed)?;
    }
    Ok(svg)
}

/// Workers by band of children allocated.
pub fn caseloads(bands: &[(&str, usize)]) -> Result<String, PageError> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
        root.fill(&WHITE).map_err(failed)?;
        let top = bands.iter().map(|b| b.1).max().unwrap_or(0).max(1);
        let n = i32::try_from(bands.len()).unwrap_or(0);
        let mut chart = ChartBuilder::on(&root)
            .caption("Workers by children allocated", ("sans-serif", 16))
            .margin(10)
            .x_label_area_size(28)
            .y_label_area_size(40)
            .build_cartesian_2d(0..n, 0..top)
            .map_err(failed)?;
        chart
            .configure_mesh()
            .x_labels(bands.len() + 1)
            .x_label_formatter(&|i| {
                usize::try_from(*i)
                    .ok()
                    .and_then(|i| bands.get(i))
                    .map(|b| b.0.to_string())
                    .unwrap_or_default()
            })
            .y_desc("workers")
            .draw()
            .map_err(failed)?;
        chart
            .draw_series(bands.iter().enumerate().map(|(i, (_, count))| {
                let x = i32::try_from(i).unwrap_or(0);
                Rectangle::new([(x, 0), (x + 1, *count)], LINE.filled())
            }))
            .map_err(failed)?;
        root.present().map_err(failed)?;
    }
    Ok(svg)
}
