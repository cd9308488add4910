//! What every command gets: global options, configuration loading, output that survives a closed pipe.

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use pbxguard_config::{Config, ConfigError, DEFAULT_PATH};

/// How a command finished when it did not fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Exit code 0.
    Ok,
    /// Exit code 1: the command worked and found something (a finding, a failed check).
    Findings,
}

/// Why a command failed, which decides the exit code.
#[derive(Debug)]
pub enum Failure {
    /// The reader closed our stdout (`pbxguard … | head`): not an error.
    BrokenPipe,
    /// Bad arguments or input the user must fix: exit 2.
    Usage(String),
    /// An invalid configuration file: exit 2, every mistake printed.
    Config(ConfigError),
    /// Anything else: exit 1.
    Other(anyhow::Error),
}

impl From<io::Error> for Failure {
    fn from(e: io::Error) -> Self {
        if e.kind() == io::ErrorKind::BrokenPipe {
            Failure::BrokenPipe
        } else {
            Failure::Other(e.into())
        }
    }
}

impl From<anyhow::Error> for Failure {
    fn from(e: anyhow::Error) -> Self {
        match e.downcast_ref::<io::Error>() {
            Some(io) if io.kind() == io::ErrorKind::BrokenPipe => Failure::BrokenPipe,
            _ => Failure::Other(e),
        }
    }
}

impl From<serde_json::Error> for Failure {
    fn from(e: serde_json::Error) -> Self {
        match e.io_error_kind() {
            Some(io::ErrorKind::BrokenPipe) => Failure::BrokenPipe,
            _ => Failure::Other(e.into()),
        }
    }
}

/// A command's result.
pub type Outcome = Result<Exit, Failure>;

/// Global options shared by all commands.
#[derive(Debug)]
pub struct Context {
    config_path: Option<PathBuf>,
    /// Whether `--json` was given.
    pub json: bool,
}

impl Context {
    /// Builds the context from the global options.
    pub fn new(config_path: Option<PathBuf>, json: bool) -> Self {
        Self { config_path, json }
    }

    /// The configuration file in use, if any (for reloading).
    pub fn config_file(&self) -> Option<PathBuf> {
        match &self.config_path {
            Some(p) => Some(p.clone()),
            None if Path::new(DEFAULT_PATH).exists() => Some(PathBuf::from(DEFAULT_PATH)),
            None => None,
        }
    }

    /// Loads the configuration: the `--config` file (which must exist), else the default path if it
    /// exists, else the built-in defaults.
    pub fn config(&self) -> Result<Config, Failure> {
        match &self.config_path {
            Some(path) => load(path),
            None if Path::new(DEFAULT_PATH).exists() => load(Path::new(DEFAULT_PATH)),
            None => {
                tracing::info!(
                    "no configuration file at {DEFAULT_PATH}: using the built-in defaults"
                );
                Ok(Config::default())
            }
        }
    }
}

/// Reads and parses a configuration file.
pub fn load(path: &Path) -> Result<Config, Failure> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        Failure::Usage(format!(
            "cannot read configuration file {}: {e}",
            path.display()
        ))
    })?;
    Config::from_toml(&text, &path.display().to_string()).map_err(Failure::Config)
}

/// Writes text to stdout; a closed pipe becomes [`Failure::BrokenPipe`].
pub fn print(text: &str) -> Result<(), Failure> {
    let mut out = io::stdout().lock();
    out.write_all(text.as_bytes())?;
    if !text.ends_with('\n') {
        out.write_all(b"\n")?;
    }
    out.flush()?;
    Ok(())
}

/// Writes a value as pretty JSON to stdout.
pub fn print_json(value: &serde_json::Value) -> Result<(), Failure> {
    let mut text = serde_json::to_string_pretty(value)?;
    text.push('\n');
    print(&text)
}
