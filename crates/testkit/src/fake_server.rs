//! A scripted OpenAI-compatible endpoint on 127.0.0.1 for fault tests: each
//! request is answered by a closure that sees the request and how many
//! times a request with the same body came before, so tests can answer
//! "429 the first time, then 200" whatever the order of concurrent requests.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A request as the server saw it.
#[derive(Clone, Debug)]
pub struct Seen {
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: String,
    /// Earlier requests with the same path and body (0 for the first).
    pub attempt: usize,
}

impl Seen {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or(serde_json::Value::Null)
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// How to answer.
pub enum Reply {
    Json(u16, serde_json::Value),
    /// Status, extra headers, raw body.
    Raw(u16, Vec<(String, String)>, String),
    /// Wait this long, then answer.
    Stall(Duration, Box<Reply>),
    /// Close the connection without an answer.
    Hangup,
}

type Script = dyn Fn(&Seen) -> Reply + Send + Sync;

pub struct FakeServer {
    pub url: String,
    log: Arc<Mutex<Vec<Seen>>>,
}

impl FakeServer {
    /// Starts serving on a free port; `base_url()` is what `--base-url` takes.
    pub fn start(script: impl Fn(&Seen) -> Reply + Send + Sync + 'static) -> FakeServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
        let url = format!("http://{}/v1", listener.local_addr().expect("address"));
        let log: Arc<Mutex<Vec<Seen>>> = Arc::default();
        let script: Arc<Script> = Arc::new(script);
        let counts: Arc<Mutex<HashMap<String, usize>>> = Arc::default();
        let server_log = Arc::clone(&log);
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (log, script, counts) = (
                    Arc::clone(&server_log),
                    Arc::clone(&script),
                    Arc::clone(&counts),
                );
                std::thread::spawn(move || {
                    let _ = serve(stream, &log, &*script, &counts);
                });
            }
        });
        FakeServer { url, log }
    }

    /// Every request so far.
    pub fn requests(&self) -> Vec<Seen> {
        self.log.lock().expect("log").clone()
    }
}

fn serve(
    stream: TcpStream,
    log: &Mutex<Vec<Seen>>,
    script: &Script,
    counts: &Mutex<HashMap<String, usize>>,
) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let path = line.split_whitespace().nth(1).unwrap_or("").to_string();
    let mut headers = Vec::new();
    let mut length = 0usize;
    loop {
        line.clear();
        reader.read_line(&mut line)?;
        let header = line.trim_end();
        if header.is_empty() {
            break;
        }
        if let Some((k, v)) = header.split_once(':') {
            if k.eq_ignore_ascii_case("content-length") {
                length = v.trim().parse().unwrap_or(0);
            }
            headers.push((k.trim().to_string(), v.trim().to_string()));
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body)?;
    let body = String::from_utf8_lossy(&body).into_owned();
    let attempt = {
        let mut counts = counts.lock().expect("counts");
        let n = counts.entry(format!("{path}\n{body}")).or_insert(0);
        *n += 1;
        *n - 1
    };
    let seen = Seen {
        path,
        headers,
        body,
        attempt,
    };
    log.lock().expect("log").push(seen.clone());
    answer(stream, script(&seen))
}

fn answer(mut stream: TcpStream, reply: Reply) -> std::io::Result<()> {
    let (status, headers, body) = match reply {
        Reply::Json(status, v) => (status, Vec::new(), v.to_string()),
        Reply::Raw(status, headers, body) => (status, headers, body),
        Reply::Stall(wait, then) => {
            std::thread::sleep(wait);
            return answer(stream, *then);
        }
        Reply::Hangup => return Ok(()),
    };
    let mut head = format!(
        "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes())?;
    stream.write_all(body.as_bytes())?;
    stream.flush()
}

/// A chat or completions answer with `text`, as OpenAI shapes it.
pub fn completion(chat: bool, text: &str) -> serde_json::Value {
    let choice = if chat {
        serde_json::json!({"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"})
    } else {
        serde_json::json!({"index": 0, "text": text, "finish_reason": "length"})
    };
    serde_json::json!({"choices": [choice], "usage": {"prompt_tokens": 7, "completion_tokens": 3}})
}

/// A one-token chat answer whose top log-probabilities are `top`.
pub fn top_tokens(top: &[(&str, f64)]) -> serde_json::Value {
    let list: Vec<serde_json::Value> = top
        .iter()
        .map(|(t, p)| serde_json::json!({"token": t, "logprob": p.ln()}))
        .collect();
    serde_json::json!({
        "choices": [{"index": 0, "message": {"role": "assistant", "content": top[0].0},
            "logprobs": {"content": [{"token": top[0].0, "logprob": top[0].1.ln(), "top_logprobs": list}]},
            "finish_reason": "length"}],
        "usage": {"prompt_tokens": 50, "completion_tokens": 1}
    })
}
