//! The console's HTML: a page frame, and one fragment per view, which the
//! page's script swaps in as fresh ones arrive. Built with `maud`, which
//! escapes every value; no inline script or style anywhere (the page is
//! served under a CSP that forbids both), sparklines are SVG drawn here.

use maud::{DOCTYPE, Markup, html};

use super::data::{self, AuditFilter, AuditTail, HeldRow, ServerRow, ToolRow};
use crate::recent::RunSummary;

/// The four views.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum View {
    Servers,
    Tools,
    Runs,
    Audit,
}

impl View {
    pub const ALL: [View; 4] = [View::Servers, View::Tools, View::Runs, View::Audit];

    pub fn name(self) -> &'static str {
        match self {
            View::Servers => "servers",
            View::Tools => "tools",
            View::Runs => "runs",
            View::Audit => "audit",
        }
    }

    fn title(self) -> &'static str {
        match self {
            View::Servers => "Servers",
            View::Tools => "Tools",
            View::Runs => "Runs",
            View::Audit => "Audit",
        }
    }

    pub fn from_name(name: &str) -> Option<View> {
        View::ALL.into_iter().find(|v| v.name() == name)
    }
}

/// A whole page: the frame around one view's fragment. `events` is the
/// query string of the view's live stream.
pub fn page(view: View, fragment: Markup, events: &str, signed_in: bool) -> String {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { "weft · " (view.title()) }
                link rel="stylesheet" href="/ui/app.css";
                link rel="icon" href="/ui/favicon.svg" type="image/svg+xml";
                script src="/ui/app.js" defer {}
            }
            body {
                header {
                    span.brand { "weft" }
                    nav {
                        @for v in View::ALL {
                            a href=(format!("/ui/{}", v.name()))
                              class=(if v == view { "here" } else { "" }) { (v.title()) }
                        }
                    }
                    span #live data-state="snapshot" { "snapshot" }
                    @if signed_in {
                        form.signout method="post" action="/ui/logout" {
                            button type="submit" { "sign out" }
                        }
                    }
                }
                main #view data-view=(view.name()) data-events=(events) {
                    (fragment)
                }
            }
        }
    }
    .into_string()
}

/// The sign-in page, answered with 401 to a browser without a key.
pub fn sign_in(message: &str) -> String {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                title { "weft · sign in" }
                link rel="stylesheet" href="/ui/app.css";
                link rel="icon" href="/ui/favicon.svg" type="image/svg+xml";
            }
            body {
                main.signin {
                    h1 { "weft console" }
                    p { (message) }
                    form method="post" action="/ui/login" {
                        label for="key" { "An admin tenant's key" }
                        input #key type="password" name="key" autocomplete="off" required;
                        button type="submit" { "Sign in" }
                    }
                }
            }
        }
    }
    .into_string()
}

/// A page that only says something (a refusal other than sign-in).
pub fn message(title: &str, text: &str) -> String {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                title { "weft · " (title) }
                link rel="stylesheet" href="/ui/app.css";
            }
            body { main.signin { h1 { (title) } p { (text) } p { a href="/ui" { "the console" } } } }
        }
    }
    .into_string()
}

fn ms(v: Option<f64>) -> String {
    match v {
        None => "–".into(),
        Some(v) if v < 10.0 => format!("{v:.2} ms"),
        Some(v) => format!("{v:.0} ms"),
    }
}

/// A sparkline of a server's per-slot p50s: one polyline per run of slots
/// with calls, scaled to the largest.
fn sparkline(slots: &[Option<f64>]) -> Markup {
    const W: f64 = 120.0;
    const H: f64 = 24.0;
    let max = slots.iter().flatten().copied().fold(0.0_f64, f64::max);
    // 3 px inside each end, so a point at either end is not cut off.
    let step = (W - 6.0) / (slots.len().max(2) - 1) as f64;
    let mut lines: Vec<Vec<String>> = Vec::new();
    let mut open = false;
    for (i, s) in slots.iter().enumerate() {
        match s {
            Some(v) => {
                let y = if max > 0.0 {
                    H - 2.0 - (v / max) * (H - 4.0)
                } else {
                    H - 2.0
                };
                let point = format!("{:.1},{:.1}", 3.0 + i as f64 * step, y);
                match (open, lines.last_mut()) {
                    (true, Some(line)) => line.push(point),
                    _ => lines.push(vec![point]),
                }
                open = true;
            }
            None => open = false,
        }
    }
    html! {
        svg.spark width="120" height="24" viewBox="0 0 120 24" role="img"
            aria-label="p50 latency, last 5 minutes" {
            line x1="0" y1="23" x2="120" y2="23" stroke="#ccd" stroke-width="1" {}
            @for line in &lines {
                @if line.len() == 1 {
                    @let xy: Vec<&str> = line[0].split(',').collect();
                    circle cx=(xy[0]) cy=(xy.get(1).copied().unwrap_or("22")) r="2" fill="#36c" {}
                } @else {
                    polyline points=(line.join(" ")) fill="none" stroke="#36c" stroke-width="1.5" {}
                }
            }
        }
    }
}

pub fn servers(rows: &[ServerRow]) -> Markup {
    html! {
        h1 { "Servers " span.count { (rows.len()) } }
        table.servers {
            thead { tr {
                th { "server" } th { "state" } th { "era" } th { "transport" }
                th.n { "tools" } th.n { "restarts" } th { "breaker" }
                th.n { "calls (5 min)" } th.n { "p50" } th.n { "p99" } th { "p50, last 5 min" }
            } }
            tbody {
                @for s in rows {
                    tr data-server=(s.name) data-state=(s.state) {
                        td.name {
                            (s.name)
                            @if let Some(t) = &s.tenant { " " span.tenant { "tenant " (t) } }
                        }
                        td { span class=(format!("state {}", s.state)) { (s.state) } }
                        td { (s.era) }
                        td { (s.transport) }
                        td.n { (s.tools) }
                        td.n { (s.restarts) }
                        td { span class=(format!("breaker {}", s.breaker)) { (s.breaker) } }
                        td.n { (s.series.calls) }
                        td.n { (ms(s.series.p50_ms)) }
                        td.n { (ms(s.series.p99_ms)) }
                        td { (sparkline(&s.series.slots)) }
                    }
                    @if s.reason.is_some() || !s.stderr.is_empty() {
                        tr.why data-why=(s.name) {
                            td colspan="11" {
                                @if let Some(r) = &s.reason { p.reason { (r) } }
                                @if !s.stderr.is_empty() {
                                    details open {
                                        summary { "stderr, last lines" }
                                        pre.stderr { @for l in &s.stderr { (l) "\n" } }
                                    }
                                }
                            }
                        }
                    } @else if let Some(e) = &s.last_error {
                        tr.why data-why=(s.name) { td colspan="11" { p.last { "last error: " (e) } } }
                    }
                }
            }
        }
    }
}

pub fn tools(rows: &[ToolRow], matched: usize, query: &str, held: &[HeldRow]) -> Markup {
    html! {
        @if !held.is_empty() {
            h2 { "Held for review " span.count { (held.len()) } }
            p.note {
                "These definitions differ from the ones weft pinned. Approve one with "
                code { "weft pins approve SERVER.TOOL" } " or "
                code { "POST /status/pins/approve" } "."
            }
            table.held {
                thead { tr { th { "tool" } th { "state" } th { "pinned against listed" } } }
                tbody {
                    @for h in held {
                        tr data-held=(h.name) {
                            td.name { (h.name) }
                            td { span class=(format!("status {}", h.state)) { (h.state) } }
                            td { details { summary { "diff" } pre.diff { (h.diff) } } }
                        }
                    }
                }
            }
        }
        h1 { "Tools " span.count { (matched) } }
        form.search method="get" action="/ui/tools" {
            input #q type="search" name="q" value=(query) placeholder="search names and descriptions";
            button type="submit" { "search" }
        }
        @if matched > rows.len() {
            p.note { "showing the first " (rows.len()) " of " (matched) "; search to narrow them" }
        }
        table.tools {
            thead { tr {
                th { "tool" } th { "server" } th { "annotations" } th.n { "calls" } th.n { "errors" } th { "description and schema" }
            } }
            tbody {
                @for t in rows {
                    tr data-tool=(t.exposed)
                       data-search=(format!("{} {} {}", t.exposed, t.server, t.description).to_lowercase()) {
                        td.name { (t.exposed) }
                        td { (t.server) }
                        td { @for h in &t.hints { span class=(format!("hint {h}")) { (h) } " " } }
                        td.n { (t.counts.calls) }
                        td.n {
                            @if t.counts.calls == 0 { "–" } @else {
                                (format!("{:.0}%", 100.0 * t.counts.errors as f64 / t.counts.calls as f64))
                            }
                        }
                        td {
                            p.desc { (t.description) }
                            details { summary { "input schema" } pre { (t.schema) } }
                        }
                    }
                }
            }
        }
    }
}

fn when(ms: u64) -> String {
    chrono::DateTime::from_timestamp_millis(i64::try_from(ms).unwrap_or(0))
        .map(|t| t.format("%H:%M:%S").to_string())
        .unwrap_or_default()
}

pub fn runs(rows: &[RunSummary]) -> Markup {
    html! {
        h1 { "Runs " span.count { (rows.len()) } }
        @if rows.is_empty() {
            p.note { "No policy or code run has ended since weft started." }
        }
        table.runs {
            thead { tr {
                th { "ended" } th { "policy" } th { "status" } th.n { "duration" } th.n { "calls" } th.n { "fuel" } th { "run id" }
            } }
            tbody {
                @for r in rows {
                    tr data-run=(r.seq) data-policy=(r.policy) data-status=(r.status) {
                        td { a href=(format!("/ui/runs/{}", r.seq)) { (when(r.ended_at_ms)) } }
                        td.name { a href=(format!("/ui/runs/{}", r.seq)) { (r.policy) } }
                        td { span class=(format!("status {}", r.status)) { (r.status) } }
                        td.n { (ms(Some(r.duration_ms))) }
                        td.n { (r.call_count) }
                        td.n { (r.fuel_used) }
                        td.id { (r.run_id.as_deref().unwrap_or("–")) }
                    }
                }
            }
        }
    }
}

/// The journal's events of a run: every host call, clock read and log
/// line, in order, with when each started.
pub fn journal(rows: &anyhow::Result<Vec<data::JournalRow>>) -> Markup {
    html! {
        h2 { "From the journal" }
        @match rows {
            Err(why) => p.note { (why) },
            Ok(rows) => {
                @if rows.len() >= data::MAX_JOURNAL_ROWS {
                    p.note { "the first " (data::MAX_JOURNAL_ROWS) " events; `weft runs show` has them all" }
                }
                table.journal {
                    thead { tr { th.n { "seq" } th { "kind" } th { "what" } th { "outcome" } th.n { "at ms" } th.n { "ms" } } }
                    tbody {
                        @for e in rows {
                            tr data-event=(e.seq) data-kind=(e.kind) {
                                td.n { (e.seq) }
                                td { (e.kind) }
                                td.name { (e.what) }
                                td { @if !e.outcome.is_empty() {
                                    span class=(format!("status {}", if e.outcome == "ok" { "ok" } else { "error" })) { (e.outcome) }
                                } }
                                td.n { (format!("{:.2}", e.at_ms)) }
                                td.n { (e.ms.map(|m| format!("{m:.2}")).unwrap_or_default()) }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// One run's timeline: its calls as bars along the run's duration.
pub fn run(r: &RunSummary) -> Markup {
    let total: f64 = r.calls.iter().map(|c| c.ms).sum::<f64>().max(0.001);
    let mut at = 0.0;
    let bars: Vec<(f64, f64)> = r
        .calls
        .iter()
        .map(|c| {
            let bar = (at / total * 300.0, (c.ms / total * 300.0).max(1.0));
            at += c.ms;
            bar
        })
        .collect();
    html! {
        h1 { "Run of " (r.policy) " " span class=(format!("status {}", r.status)) { (r.status) } }
        p {
            (ms(Some(r.duration_ms))) ", " (r.call_count) " calls, " (r.fuel_used) " fuel"
            @if let Some(id) = &r.run_id { ", journal id " code { (id) } " (" code { "weft runs show " (id) } ")" }
        }
        @if let Some(e) = &r.error { p.reason { (e) } }
        @if r.call_count > r.calls.len() {
            p.note { "showing the first " (r.calls.len()) " of " (r.call_count) " calls" }
        }
        table.timeline {
            thead { tr { th.n { "#" } th { "call" } th { "outcome" } th.n { "ms" } th { "timeline" } } }
            tbody {
                @for (i, (c, (x, w))) in r.calls.iter().zip(bars).enumerate() {
                    tr data-call=(i + 1) {
                        td.n { (i + 1) }
                        td.name { (c.server) "." (c.tool) }
                        td { span class=(format!("status {}", if c.outcome == "ok" { "ok" } else { "error" })) { (c.outcome) } }
                        td.n { (format!("{:.2}", c.ms)) }
                        td { svg width="300" height="10" viewBox="0 0 300 10" {
                            rect x=(format!("{x:.1}")) y="1" width=(format!("{w:.1}")) height="8"
                                 fill=(if c.outcome == "ok" { "#36c" } else { "#c33" }) {}
                        } }
                    }
                }
            }
        }
        p { a href="/ui/runs" { "all runs" } }
    }
}

pub fn audit(tail: &AuditTail, filter: &AuditFilter, tenants: &[String]) -> Markup {
    html! {
        h1 { "Audit " span.count { (tail.rows.len()) } }
        form.filter method="get" action="/ui/audit" {
            label { "tenant "
                select name="tenant" {
                    option value="" { "any" }
                    @for t in tenants {
                        option value=(t) selected[*t == filter.tenant] { (t) }
                    }
                }
            }
            label { " tool " input type="search" name="tool" value=(filter.tool) placeholder="server.tool"; }
            label { " outcome "
                select name="outcome" {
                    option value="" { "any" }
                    option value="ok" selected[filter.outcome == "ok"] { "ok" }
                    option value="error" selected[filter.outcome == "error"] { "not ok" }
                    @for o in tail.outcomes.iter().filter(|o| *o != "ok") {
                        option value=(o) selected[*o == filter.outcome] { (o) }
                    }
                }
            }
            " " button type="submit" { "filter" }
        }
        @if let Some(n) = &tail.note { p.note { (n) } }
        table.audit {
            thead { tr {
                th { "time" } th { "tenant" } th { "key" } th { "route" } th { "what" } th { "outcome" } th.n { "ms" }
            } }
            tbody {
                @for r in &tail.rows {
                    tr data-outcome=(r.outcome) {
                        td { (r.ts) } td { (r.tenant) } td.id { (r.key) } td { (r.route) }
                        td.name { (r.subject) }
                        td { span class=(format!("status {}", if r.outcome == "ok" { "ok" } else { "error" })) { (r.outcome) } }
                        td.n { (format!("{:.1}", r.ms)) }
                    }
                }
            }
        }
        @if tail.rows.len() >= data::MAX_AUDIT_ROWS {
            p.note { "the last " (data::MAX_AUDIT_ROWS) " records that match; `weft audit tail` has them all" }
        }
    }
}
