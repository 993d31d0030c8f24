//! `cargo run -p uniffi-bindgen -- generate --library <libfieldbook_ffi.so> --language kotlin|swift|python --out-dir <dir>`
fn main() {
    uniffi::uniffi_bindgen_main()
}
