//! Helpers for running example binaries as real processes.
