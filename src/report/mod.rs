//! Score files and tables.
pub mod per_instance;
pub mod pyjson;
pub mod score_file;
