//! The chunk of issue #10: a compressed Automerge change chunk (type 2) of about 1 MB that
//! inflates to 1 GiB, built in milliseconds, and the process's peak memory to show what
//! handling it cost.

use std::io::Write;

const MIB: usize = 1024 * 1024;

/// Raw deflate data that inflates to `mib` MiB of zeros, about 1 KiB per MiB: one sync-flushed
/// run of blocks (byte-aligned, no back-reference before its own start) repeated, then an empty
/// final block.
pub fn zeros_deflated(mib: usize) -> Vec<u8> {
    let mut encoder = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::best());
    encoder.write_all(&vec![0u8; MIB]).unwrap();
    encoder.flush().unwrap();
    let mut out = encoder.get_ref().repeat(mib);
    out.extend([0x03, 0x00]); // final block, fixed Huffman codes, end of block at once
    out
}

/// A compressed change chunk (type 2) whose data inflates to `mib` MiB.
pub fn compressed_change_chunk(mib: usize) -> Vec<u8> {
    let data = zeros_deflated(mib);
    let mut out = vec![0x85, 0x6f, 0x4a, 0x83, 0, 0, 0, 0, 2];
    let mut n = data.len();
    loop {
        let byte = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            out.push(byte);
            break;
        }
        out.push(byte | 0x80);
    }
    out.extend(data);
    out
}

/// Peak resident memory of this process so far, in KiB (`VmHWM`); 0 where /proc is missing.
pub fn peak_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// Resets the peak to the current resident size (Linux 4.0+), so that `peak_rss_kib` measures
/// what comes next. Where it cannot, the peak stays the highest so far, which still shows a
/// spike above it.
pub fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}
