//! A Lambda Runtime API emulator: runs a function's real `bootstrap` binary as Lambda does. The
//! binary polls `GET /2018-06-01/runtime/invocation/next`, answers through `…/{id}/response` or
//! `…/{id}/error`, and reports start-up failures to `/runtime/init/error`.

use std::{
    collections::{HashMap, VecDeque},
    convert::Infallible,
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{body::Incoming, Request, Response};
use serde_json::Value;
use tokio::{
    net::TcpListener,
    sync::{oneshot, Notify},
    task::JoinHandle,
};

const PREFIX: &str = "/2018-06-01/runtime";

/// How an invocation ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Response(Value),
    Error(Value),
}

#[derive(Default)]
struct State {
    queue: VecDeque<(String, Bytes)>,
    waiting: HashMap<String, oneshot::Sender<Outcome>>,
    init_error: Option<Value>,
    first_poll: Option<Instant>,
    next_id: u64,
}

/// A running emulator; stops when dropped.
pub struct RuntimeApi {
    pub addr: SocketAddr,
    state: Arc<Mutex<State>>,
    ready: Arc<Notify>,
    polled: Arc<Notify>,
    task: JoinHandle<()>,
}

impl Drop for RuntimeApi {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn reply(status: u16, body: impl Into<Bytes>) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(body.into()));
    *r.status_mut() = hyper::StatusCode::from_u16(status).unwrap_or_default();
    r
}

impl RuntimeApi {
    pub async fn start() -> std::io::Result<Self> {
        let listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await?;
        let addr = listener.local_addr()?;
        let state = Arc::new(Mutex::new(State::default()));
        let ready = Arc::new(Notify::new());
        let polled = Arc::new(Notify::new());
        let (s, r, p) = (state.clone(), ready.clone(), polled.clone());
        let task = crate::http1::serve(listener, move |req, _| {
            let (s, r, p) = (s.clone(), r.clone(), p.clone());
            async move { Ok::<_, Infallible>(Self::serve(req, s, r, p).await) }
        });
        Ok(Self {
            addr,
            state,
            ready,
            polled,
            task,
        })
    }

    /// The value of `AWS_LAMBDA_RUNTIME_API` for a function.
    pub fn endpoint(&self) -> String {
        self.addr.to_string()
    }

    async fn serve(
        req: Request<Incoming>,
        state: Arc<Mutex<State>>,
        ready: Arc<Notify>,
        polled: Arc<Notify>,
    ) -> Response<Full<Bytes>> {
        let path = req.uri().path().to_owned();
        let Some(rest) = path.strip_prefix(PREFIX) else {
            return reply(404, "not found");
        };
        if rest == "/invocation/next" {
            {
                let mut st = state.lock().expect("state");
                st.first_poll.get_or_insert_with(Instant::now);
            }
            polled.notify_waiters();
            loop {
                let notified = ready.notified();
                if let Some((id, event)) = state.lock().expect("state").queue.pop_front() {
                    let deadline = time::OffsetDateTime::now_utc().unix_timestamp() * 1000 + 30_000;
                    let mut r = reply(200, event);
                    let h = r.headers_mut();
                    h.insert(
                        "lambda-runtime-aws-request-id",
                        id.parse().expect("ascii id"),
                    );
                    h.insert(
                        "lambda-runtime-deadline-ms",
                        deadline.to_string().parse().expect("digits"),
                    );
                    h.insert(
                        "lambda-runtime-invoked-function-arn",
                        "arn:aws:lambda:us-east-1:123456789012:function:local"
                            .parse()
                            .expect("ascii"),
                    );
                    h.insert(
                        "lambda-runtime-trace-id",
                        "Root=1-00000000-000000000000000000000000"
                            .parse()
                            .expect("ascii"),
                    );
                    h.insert("content-type", "application/json".parse().expect("ascii"));
                    return r;
                }
                notified.await;
            }
        }
        let body = req
            .into_body()
            .collect()
            .await
            .map(|b| b.to_bytes())
            .unwrap_or_default();
        let json: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        if rest == "/init/error" {
            state.lock().expect("state").init_error = Some(json);
            return reply(202, "{}");
        }
        let parts: Vec<&str> = rest.trim_start_matches('/').split('/').collect();
        if let ["invocation", id, kind @ ("response" | "error")] = parts.as_slice() {
            let sender = state.lock().expect("state").waiting.remove(*id);
            if let Some(sender) = sender {
                let outcome = if *kind == "response" {
                    Outcome::Response(json)
                } else {
                    Outcome::Error(json)
                };
                let _ = sender.send(outcome);
            }
            return reply(202, "{}");
        }
        reply(404, "not found")
    }

    /// Invokes the function with `event` and waits for its answer.
    pub async fn invoke(&self, event: &Value, timeout: Duration) -> anyhow::Result<Outcome> {
        let (tx, rx) = oneshot::channel();
        {
            let mut st = self.state.lock().expect("state");
            st.next_id += 1;
            let id = format!("00000000-0000-4000-8000-{:012}", st.next_id);
            st.waiting.insert(id.clone(), tx);
            st.queue.push_back((id, Bytes::from(event.to_string())));
        }
        self.ready.notify_waiters();
        Ok(tokio::time::timeout(timeout, rx).await??)
    }

    /// What the function reported to `/runtime/init/error`, if anything.
    pub fn init_error(&self) -> Option<Value> {
        self.state.lock().expect("state").init_error.clone()
    }

    /// Waits until the function first asks for work (its init is done); returns when it did.
    pub async fn first_poll(&self, timeout: Duration) -> Option<Instant> {
        let deadline = Instant::now() + timeout;
        loop {
            let notified = self.polled.notified();
            if let Some(t) = self.state.lock().expect("state").first_poll {
                return Some(t);
            }
            let left = deadline.checked_duration_since(Instant::now())?;
            let _ = tokio::time::timeout(left.min(Duration::from_millis(50)), notified).await;
        }
    }
}
