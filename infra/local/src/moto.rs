//! Starts moto (`infra/moto_server.py`: SNS, SES and S3) from the project's virtualenv.

use std::{
    io::{BufRead, BufReader},
    path::PathBuf,
    process::{Child, Command, Stdio},
};

use anyhow::{bail, Context};

use crate::project_root;

/// A running emulator; killed when dropped.
pub struct Moto {
    child: Child,
    pub port: u16,
}

impl Moto {
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The Python that has the pinned moto: `MOTO_PYTHON`, else the project's `.venv`.
    pub fn python() -> PathBuf {
        std::env::var_os("MOTO_PYTHON")
            .map(PathBuf::from)
            .unwrap_or_else(|| project_root().join(".venv/bin/python"))
    }

    /// Starts moto on `port` (0 = any free port) and waits until it listens.
    pub fn start(port: u16) -> anyhow::Result<Self> {
        let python = Self::python();
        if !python.exists() {
            bail!(
                "{} not found: run `bash infra/setup.sh` (the README's commands do) to install the pinned emulator",
                python.display()
            );
        }
        let mut child = Command::new(&python)
            .arg(project_root().join("infra/moto_server.py"))
            .args(["--port", &port.to_string(), "--watch-parent"])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .with_context(|| format!("starting {}", python.display()))?;
        let stdout = child.stdout.take().context("moto stdout")?;
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .context("reading moto's READY line")?;
        let port = line
            .trim()
            .strip_prefix("READY ")
            .and_then(|p| p.parse().ok())
            .with_context(|| format!("moto did not start: {line:?}"))?;
        Ok(Self { child, port })
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
