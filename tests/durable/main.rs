//! `--state-file` against the real binary and real files, in a test binary of its own: the crash loop puts the
//! machine under load, and the filesystem tests mount things. `support` is the shared tests/support.
//!
//! `crash`: SIGKILL under load, clean restarts. `files`: every way the file can be bad, two processes, an
//! uncreatable path, a full filesystem, a failing disk (the `root_` tests mount, and skip loudly unless root).

mod crash;
mod disk;
mod files;
mod history;
#[path = "../support/mod.rs"]
mod support;
