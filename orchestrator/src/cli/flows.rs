//! `cairn flows validate` and `cairn flows schema`: flow files checked, and the format's
//! JSON Schema.

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use clap::Subcommand;
use flows::CompiledFlow;

use super::CliError;

#[derive(Debug, Subcommand)]
pub enum FlowsCommand {
    /// Check flow files; prints `FILE: ok` or one line per problem, exits 1 if any is invalid.
    Validate {
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
    },
    /// Print the JSON Schema of the cairn.flow/v1 format.
    Schema,
}

/// Reads and compiles a flow file.
pub fn load_flow(path: &Path) -> Result<CompiledFlow, CliError> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| CliError::Flow {
        file: file.clone(),
        problems: flows::Problem {
            node: None,
            field: None,
            message: format!("cannot read: {e}"),
            line: None,
            column: None,
        }
        .into(),
    })?;
    CompiledFlow::from_json(&text).map_err(|problems| CliError::Flow { file, problems })
}

/// `cairn flows validate`: returns whether every file is valid.
pub fn validate(files: &[PathBuf], out: &mut dyn Write) -> io::Result<bool> {
    let mut all_ok = true;
    for path in files {
        match load_flow(path) {
            Ok(_) => writeln!(out, "{}: ok", path.display())?,
            Err(e) => {
                all_ok = false;
                writeln!(out, "{e}")?;
            }
        }
    }
    Ok(all_ok)
}

/// `cairn flows schema`.
pub fn schema(out: &mut dyn Write) -> io::Result<()> {
    let text = serde_json::to_string_pretty(&flows::definition::json_schema()).map_err(io::Error::other)?;
    writeln!(out, "{text}")
}
