//! Tests of the stdio lane over in-memory pipes.

use super::*;
use rmcp::model::{
    CallToolRequest, CallToolRequestParams, ClientJsonRpcMessage, ClientRequest, GetMeta,
};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};

fn call() -> LaneCall<'static> {
    LaneCall {
        name: "echo",
        arguments: None,
        input_responses: None,
        request_state: None,
    }
}

/// The line rmcp's client writes for `call` with `id`.
fn rmcp_line(call: LaneCall<'_>, id: &str) -> serde_json::Value {
    let mut params = CallToolRequestParams::new(call.name.to_string());
    params.arguments = call.arguments.cloned();
    params.input_responses = call.input_responses.cloned();
    params.request_state = call.request_state.map(str::to_string);
    let mut request = ClientRequest::CallToolRequest(CallToolRequest::new(params));
    let id = NumberOrString::String(Arc::from(id));
    request
        .get_meta_mut()
        .set_progress_token(ProgressToken(id.clone()));
    serde_json::to_value(ClientJsonRpcMessage::request(request, id)).unwrap()
}

#[test]
fn a_lane_line_is_the_request_rmcp_would_write() {
    let serde_json::Value::Object(arguments) = serde_json::json!({
        "message": "line\nbreak \"quoted\" \u{2028} é",
        "nested": {"list": [1, 2.5, null, true, {"deep": "x"}]},
        "empty": {}
    }) else {
        unreachable!()
    };
    let mut responses = rmcp::model::InputResponses::new();
    responses.insert("ask-1".into(), serde_json::json!({"action": "accept"}));
    let cases = [
        call(),
        LaneCall {
            arguments: Some(&arguments),
            ..call()
        },
        LaneCall {
            name: "a tool/with odd \"name\"",
            arguments: Some(&arguments),
            input_responses: Some(&responses),
            request_state: Some("opaque state"),
        },
    ];
    for case in cases {
        let line = call_line(case, "weft-lane-7").unwrap();
        // One line: the only newline ends it.
        assert_eq!(line.iter().filter(|b| **b == b'\n').count(), 1);
        assert_eq!(line.last(), Some(&b'\n'));
        let ours: serde_json::Value = serde_json::from_slice(&line).unwrap();
        assert_eq!(ours, rmcp_line(case, "weft-lane-7"));
    }
}

/// A lane over in-memory pipes: (lane, what rmcp reads, what rmcp
/// writes, the server's end of stdin, the server's end of stdout).
fn lane() -> (
    Lane,
    LaneReader<tokio::io::DuplexStream>,
    LaneWriter,
    BufReader<tokio::io::DuplexStream>,
    tokio::io::DuplexStream,
) {
    let (stdin, server_in) = tokio::io::duplex(1 << 20);
    let (server_out, stdout) = tokio::io::duplex(1 << 20);
    let (lane, reader, writer) = split(Box::new(stdin), stdout);
    (lane, reader, writer, BufReader::new(server_in), server_out)
}

#[tokio::test]
async fn an_answer_goes_to_its_caller_and_everything_else_to_rmcp() {
    let (lane, mut reader, _writer, mut server_in, mut server_out) = lane();
    let sent = lane.send(call()).await.unwrap();
    let mut line = String::new();
    server_in.read_line(&mut line).await.unwrap();
    let request: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert_eq!(request["id"], "weft-lane-1");
    assert_eq!(request["method"], "tools/call");
    assert_eq!(request["params"]["_meta"]["progressToken"], "weft-lane-1");
    // A notification, the answer split across two writes, and an answer
    // to one of rmcp's own requests.
    let note = "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\",\"params\":{\"progressToken\":\"weft-lane-1\",\"progress\":1}}\n";
    let other = "{\"jsonrpc\":\"2.0\",\"id\":7,\"result\":{}}\r\n";
    server_out.write_all(note.as_bytes()).await.unwrap();
    server_out
        .write_all(b"{\"jsonrpc\":\"2.0\",\"id\":\"weft-lane-1\",\"result\":{\"content\":[{\"type\":\"text\",")
        .await
        .unwrap();
    server_out
        .write_all(b"\"text\":\"hi\"}]}}\n")
        .await
        .unwrap();
    server_out.write_all(other.as_bytes()).await.unwrap();
    drop(server_out);
    // The lines are sorted as rmcp reads them.
    let mut rest = String::new();
    reader.read_to_string(&mut rest).await.unwrap();
    assert_eq!(rest, format!("{note}{other}"));
    let ServerResult::CallToolResult(result) = sent.answer().await.unwrap() else {
        panic!("not a tool result");
    };
    assert_eq!(result.content[0].as_text().unwrap().text, "hi");
}

#[tokio::test]
async fn an_error_answer_is_the_callers_error() {
    let (lane, mut reader, _writer, _server_in, mut server_out) = lane();
    let sent = lane.send(call()).await.unwrap();
    server_out
        .write_all(b"{\"jsonrpc\":\"2.0\",\"id\":\"weft-lane-1\",\"error\":{\"code\":-32602,\"message\":\"no such tool\"}}\n")
        .await
        .unwrap();
    drop(server_out);
    let mut rest = Vec::new();
    reader.read_to_end(&mut rest).await.unwrap();
    assert!(rest.is_empty());
    match sent.answer().await {
        Err(ServiceError::McpError(e)) => assert_eq!(e.message, "no such tool"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn the_end_of_stdout_closes_every_waiting_call() {
    let (lane, mut reader, _writer, _server_in, server_out) = lane();
    let sent = lane.send(call()).await.unwrap();
    drop(server_out);
    let mut rest = Vec::new();
    reader.read_to_end(&mut rest).await.unwrap();
    assert!(matches!(
        sent.answer().await,
        Err(ServiceError::TransportClosed)
    ));
    assert!(matches!(
        lane.send(call()).await,
        Err(ServiceError::TransportClosed)
    ));
}

#[tokio::test]
async fn lookalikes_and_unknown_ids_pass_to_rmcp() {
    let (_lane, mut reader, _writer, _server_in, mut server_out) = lane();
    let lines = [
        // A request from the server that mentions a lane id.
        "{\"jsonrpc\":\"2.0\",\"id\":\"weft-lane-1\",\"method\":\"ping\"}\n",
        // Not JSON at all.
        "\"weft-lane-1\" garbage\n",
        // A result with a lane-looking text but rmcp's id.
        "{\"jsonrpc\":\"2.0\",\"id\":3,\"result\":{\"x\":\"weft-lane-2\"}}\n",
        // An unfinished last line.
        "{\"id\":\"weft-lane-",
    ];
    for l in lines {
        server_out.write_all(l.as_bytes()).await.unwrap();
    }
    drop(server_out);
    let mut rest = String::new();
    reader.read_to_string(&mut rest).await.unwrap();
    assert_eq!(rest, lines.concat());
}

#[tokio::test]
async fn rmcp_frames_and_lane_lines_never_interleave() {
    let (lane, _reader, mut writer, mut server_in, _server_out) = lane();
    let frame = format!("{{\"pad\":\"{}\"}}\n", "x".repeat(100_000));
    let rmcp = tokio::spawn(async move {
        for _ in 0..20 {
            writer.write_all(frame.as_bytes()).await.unwrap();
            writer.flush().await.unwrap();
        }
        writer
    });
    let server = tokio::spawn(async move {
        let mut calls = 0;
        for _ in 0..40 {
            let mut line = String::new();
            server_in.read_line(&mut line).await.unwrap();
            let v: serde_json::Value = serde_json::from_str(&line).unwrap();
            if v.get("method").is_some() {
                calls += 1;
            }
        }
        calls
    });
    let mut sent = Vec::new();
    for _ in 0..20 {
        sent.push(lane.send(call()).await.unwrap());
    }
    assert_eq!(server.await.unwrap(), 20);
    let _ = rmcp.await.unwrap();
}

/// Lines over the cap go no further, however they are cut into reads,
/// and the request each answers fails with the overlong error: a lane
/// call (its id first or last) through its caller, one of rmcp's by an
/// error line in the dropped line's place. A line of the server's own (a
/// notification) just goes; a line at the cap passes whole.
#[tokio::test]
async fn an_overlong_line_fails_its_request_and_goes_no_further() {
    let x = "x".repeat(100);
    let at_cap = format!(
        "{{\"jsonrpc\":\"2.0\",\"id\":9,\"result\":{{\"t\":\"{}\"}}}}\n",
        "y".repeat(21)
    );
    assert_eq!(at_cap.len(), 64);
    let text = [
        format!("{{\"jsonrpc\":\"2.0\",\"id\":\"weft-lane-1\",\"result\":{{\"t\":\"{x}\"}}}}\n"),
        format!("{{\"jsonrpc\":\"2.0\",\"result\":{{\"t\":\"{x}\"}},\"id\":\"weft-lane-2\"}}\r\n"),
        format!("{{\"jsonrpc\":\"2.0\",\"id\":7,\"result\":{{\"t\":\"{x}\"}}}}\n"),
        format!("{{\"method\":\"notifications/message\",\"params\":{{\"data\":\"{x}\"}}}}\n"),
        at_cap.clone(),
    ]
    .concat();
    let overlong = super::overlong::error(64);
    let to_rmcp = format!(
        "{}\n{at_cap}",
        serde_json::json!({"jsonrpc": "2.0", "id": 7, "error": overlong})
    );
    for piece in [1, 7, 64, text.len()] {
        let (lane, mut reader, _writer, _server_in, _server_out) = lane();
        reader.max_line = 64;
        let first = lane.send(call()).await.unwrap();
        let last = lane.send(call()).await.unwrap();
        for bytes in text.as_bytes().chunks(piece) {
            reader.sort_bytes(bytes);
        }
        assert_eq!(
            String::from_utf8_lossy(&reader.ready),
            to_rmcp,
            "pieces of {piece}"
        );
        assert!(reader.line.len() <= 64 && reader.dropping.is_none());
        for sent in [first, last] {
            match sent.answer().await {
                Err(ServiceError::McpError(e)) => assert_eq!(e, overlong, "pieces of {piece}"),
                other => panic!("pieces of {piece}: {other:?}"),
            }
        }
    }
}
