//! `sigbox replay`: Tracee JSON events from a file or stdin.

use std::fs::File;
use std::io::{self, BufReader, BufWriter};
use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;

use super::{finish, load_signatures, signal_source_complete};
use crate::config::Input;
use crate::engine::{Limits, Runtime};
use crate::pipeline::Pipeline;
use crate::sink::{FindingWriter, OutputFormat};
use crate::source::replay::replay;

pub fn run_replay(
    dir: &Path,
    input: &Input,
    output: OutputFormat,
    limits: Limits,
) -> anyhow::Result<ExitCode> {
    let runtime = Runtime::new(limits).context("cannot start the wasm engine")?;
    let (set, load_failures) = load_signatures(&runtime, dir)?;
    let stdout = io::stdout().lock();
    let mut pipeline = Pipeline::new(
        set,
        FindingWriter::new(BufWriter::new(stdout), output, false),
    );

    let result = match input {
        Input::Stdin => replay(io::stdin().lock(), &mut pipeline),
        Input::File(path) => {
            let file = File::open(path)
                .with_context(|| format!("cannot open the event file {}", path.display()))?;
            replay(BufReader::with_capacity(1 << 20, file), &mut pipeline)
        }
    };
    if let Err(error) = result {
        if error.kind() == io::ErrorKind::BrokenPipe {
            return Ok(ExitCode::SUCCESS);
        }
        return Err(error).context("replay stopped");
    }
    signal_source_complete(pipeline.signatures_mut());
    finish(pipeline, load_failures)
}
