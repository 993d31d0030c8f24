//! The vocabulary shared by every layer of the core, below both the typed records and their
//! documents: how fields are laid out in Automerge (`fields`), what a field conflict is
//! (`conflict`) and what a failed check reports (`missing`). Nothing here imports another module
//! of the core except `codes`.

pub mod conflict;
pub mod fields;
pub mod missing;
