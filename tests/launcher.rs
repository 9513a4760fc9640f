//! Launcher tests.
