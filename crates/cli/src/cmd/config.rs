//! `pbxguard config`: check a configuration file, print the defaults, print the reference.

use std::path::PathBuf;

use clap::Subcommand;
use pbxguard_config::{Config, DEFAULT_PATH, keys::KEYS};
use serde_json::json;

use crate::context::{self, Context, Exit, Failure, Outcome};

/// `pbxguard config …`
#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Validate a configuration file and report every mistake with its line and key.
    ///
    /// Checks TOML syntax first, then meaning: unknown tables and keys (suggesting the closest known
    /// one), values of the wrong type or out of range, and contradictory combinations. Exits 0 when the
    /// file is valid, 2 when it is not. Without FILE, checks --config, else /etc/pbxguard/pbxguard.toml,
    /// else the built-in defaults.
    Check {
        /// The file to check.
        file: Option<PathBuf>,
    },
    /// Print the complete default configuration, with a comment on every key.
    ///
    /// A good start for /etc/pbxguard/pbxguard.toml: `pbxguard config default > pbxguard.toml`, then
    /// keep only the keys you change.
    Default,
    /// Print the configuration reference in Markdown (docs/configuration.md).
    Docs,
}

/// Runs `pbxguard config …`.
pub fn run(command: ConfigCommand, ctx: &Context) -> Outcome {
    match command {
        ConfigCommand::Check { file } => check(file, ctx),
        ConfigCommand::Default => {
            if ctx.json {
                let defaults = Config::default();
                let keys: Vec<_> = KEYS
                    .iter()
                    .map(|k| {
                        json!({
                            "key": k.path(),
                            "default": k.get(&defaults).to_toml(),
                            "accepts": k.kind.describe(),
                            "doc": k.doc.split_whitespace().collect::<Vec<_>>().join(" "),
                        })
                    })
                    .collect();
                context::print_json(&json!(keys))?;
            } else {
                context::print(&pbxguard_config::default_toml())?;
            }
            Ok(Exit::Ok)
        }
        ConfigCommand::Docs => {
            context::print(&pbxguard_config::reference_markdown())?;
            Ok(Exit::Ok)
        }
    }
}

fn check(file: Option<PathBuf>, ctx: &Context) -> Outcome {
    let (name, result) = match file {
        Some(path) => (path.display().to_string(), context::load(&path)),
        None => {
            let result = ctx.config();
            (
                String::from(if std::path::Path::new(DEFAULT_PATH).exists() {
                    DEFAULT_PATH
                } else {
                    "built-in defaults"
                }),
                result,
            )
        }
    };
    match result {
        Ok(_) => {
            if ctx.json {
                context::print_json(&json!({ "file": name, "valid": true, "diagnostics": [] }))?;
            } else {
                context::print(&format!("{name}: configuration is valid"))?;
            }
            Ok(Exit::Ok)
        }
        Err(Failure::Config(err)) if ctx.json => {
            let diags: Vec<_> = err
                .diagnostics
                .iter()
                .map(|d| json!({ "file": d.origin, "line": d.line, "column": d.column, "message": d.problem.to_string() }))
                .collect();
            context::print_json(&json!({ "file": name, "valid": false, "diagnostics": diags }))?;
            Err(Failure::Config(err))
        }
        Err(e) => Err(e),
    }
}
