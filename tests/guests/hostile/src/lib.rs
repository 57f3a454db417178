//! A hostile policy: `{"attack": NAME}` picks what it does to the host.
//!
//! - `spin`: an infinite loop that never calls out;
//! - `memory`: allocates until something stops it;
//! - `recurse`: unbounded recursion;
//! - `flood`: calls a tool forever;
//! - `big-output`: returns `{"n": bytes}` bytes of output;
//! - `ungranted`: calls `{"server", "tool"}`, which its grants do not allow;
//! - `wasi`: tries to read /etc/passwd, the environment, the arguments, the
//!   clock-free preopens, and to open a socket; reports what worked;
//! - `stdout`: prints `{"n": lines}` lines to stdout;
//! - `calls`: behaves, making `{"n"}` sequential calls of `{"server", "tool"}`
//!   with `{"message": i}` (for benchmarks);
//! - `script`: behaves, making each of `{"calls": [{"server", "tool",
//!   "args"}]}` in turn and reporting each outcome (`ok`, `kind`, `text`);
//! - `fanout`: behaves, making the same `{"calls": [...]}` all at once with
//!   `call_all` and reporting each outcome in the same form;
//! - `echo`: behaves, returning its input.

use std::hint::black_box;

use weft_guest::prelude::*;

fn run(input: Value) -> Result<Value, Error> {
    match input["attack"].as_str().unwrap_or("echo") {
        "spin" => {
            let mut x: u64 = 0;
            loop {
                x = black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
            }
        }
        "memory" => {
            let mut hoard: Vec<Vec<u8>> = Vec::new();
            loop {
                let mut chunk = vec![0u8; 1 << 20];
                chunk[0] = 1;
                hoard.push(black_box(chunk));
            }
        }
        "recurse" => Ok(json!(recurse(black_box(1)))),
        "flood" => {
            let mut n = 0u64;
            loop {
                let _ = call("everything", "echo", json!({"message": n.to_string()}));
                n += 1;
            }
        }
        "big-output" => {
            let n = input["n"].as_u64().unwrap_or(1 << 20) as usize;
            Ok(Value::String("x".repeat(n)))
        }
        "ungranted" => {
            let server = input["server"].as_str().unwrap_or("everything");
            let tool = input["tool"].as_str().unwrap_or("echo");
            match call(server, tool, json!({"text": "should never arrive", "message": "should never arrive"})) {
                Ok(r) => Ok(json!({"reached": true, "result": r.json()})),
                Err(e) => Ok(json!({"reached": false, "kind": e.kind.to_string(), "message": e.message})),
            }
        }
        "wasi" => Ok(probe_wasi()),
        "calls" => {
            let n = input["n"].as_u64().unwrap_or(10);
            let server = input["server"].as_str().unwrap_or("everything");
            let tool = input["tool"].as_str().unwrap_or("echo");
            for i in 0..n {
                call(server, tool, json!({"message": i.to_string()}))?;
            }
            Ok(json!({"calls": n}))
        }
        "script" => {
            let calls = input["calls"].as_array().cloned().unwrap_or_default();
            let mut out = vec![];
            for c in calls {
                let server = c["server"].as_str().unwrap_or_default();
                let tool = c["tool"].as_str().unwrap_or_default();
                let args = if c["args"].is_object() { c["args"].clone() } else { json!({}) };
                out.push(match call(server, tool, args) {
                    Ok(r) => json!({"server": server, "tool": tool, "ok": true, "text": r.text()}),
                    Err(e) => json!({"server": server, "tool": tool, "ok": false, "kind": e.kind.to_string(), "message": e.message}),
                });
            }
            Ok(Value::Array(out))
        }
        "fanout" => {
            let calls = input["calls"].as_array().cloned().unwrap_or_default();
            let owned: Vec<(String, String, Value)> = calls
                .iter()
                .map(|c| {
                    let args = if c["args"].is_object() { c["args"].clone() } else { json!({}) };
                    (c["server"].as_str().unwrap_or_default().to_string(), c["tool"].as_str().unwrap_or_default().to_string(), args)
                })
                .collect();
            let results = call_all(owned.iter().map(|(s, t, a)| (s.as_str(), t.as_str(), a.clone())));
            let out = owned
                .iter()
                .zip(results)
                .map(|((server, tool, _), result)| match result {
                    Ok(r) => json!({"server": server, "tool": tool, "ok": true, "text": r.text()}),
                    Err(e) => json!({"server": server, "tool": tool, "ok": false, "kind": e.kind.to_string(), "message": e.message}),
                })
                .collect();
            Ok(Value::Array(out))
        }
        "stdout" => {
            let n = input["n"].as_u64().unwrap_or(10);
            for i in 0..n {
                println!("line {i} of noise from the guest");
            }
            Ok(json!({"printed": n}))
        }
        _ => Ok(json!({"echo": input})),
    }
}

#[allow(unconditional_recursion)]
fn recurse(depth: u64) -> u64 {
    let pad = black_box([depth; 64]);
    recurse(depth + 1).wrapping_add(pad[(depth % 64) as usize])
}

fn probe_wasi() -> Value {
    let passwd = std::fs::read_to_string("/etc/passwd").map(|s| s.len()).map_err(|e| e.to_string());
    let root = std::fs::read_dir("/").map(|d| d.count()).map_err(|e| e.to_string());
    let cwd_write = std::fs::write("weft-probe.txt", "x").map_err(|e| e.to_string());
    let env: Vec<(String, String)> = std::env::vars().collect();
    let args: Vec<String> = std::env::args().collect();
    let tcp = std::net::TcpStream::connect("127.0.0.1:22").map(|_| ()).map_err(|e| e.to_string());
    let listen = std::net::TcpListener::bind("127.0.0.1:0").map(|_| ()).map_err(|e| e.to_string());
    let udp = std::net::UdpSocket::bind("127.0.0.1:0").map(|_| ()).map_err(|e| e.to_string());
    json!({
        "read_passwd": passwd.is_ok(),
        "read_root": root.is_ok(),
        "write_file": cwd_write.is_ok(),
        "env_count": env.len(),
        "args_count": args.len(),
        "tcp_connect": tcp.is_ok(),
        "tcp_listen": listen.is_ok(),
        "udp_bind": udp.is_ok(),
        "errors": {
            "passwd": passwd.err(), "tcp": tcp.err(), "listen": listen.err(), "udp": udp.err()
        }
    })
}

weft_guest::policy!(run);
