//! A policy that calls server-everything through typed bindings: plain
//! results, a typed structured result, and a call the grants refuse,
//! whose error keeps its kind.

mod bindings;

use bindings::everything::{self, EchoArgs, GetStructuredContentArgs, GetSumArgs};
use bindings::time::{self, GetCurrentTimeArgs};
use weft_guest::prelude::*;

fn run(input: Value) -> Result<Value, Error> {
    let city = input["city"].as_str().unwrap_or("Chicago").to_string();
    let echo = everything::echo(&EchoArgs {
        message: "typed hi".into(),
    })?;
    let sum = everything::get_sum(&GetSumArgs { a: 2.0, b: 3.5 })?;
    let weather = everything::get_structured_content(&GetStructuredContentArgs { location: city })?;
    let time = match time::get_current_time(&GetCurrentTimeArgs {
        timezone: "UTC".into(),
    }) {
        Ok(_) => "allowed".to_string(),
        Err(e) => e.kind.to_string(),
    };
    Ok(json!({
        "echo": echo.text(),
        "sum": sum.text(),
        "temperature": weather.temperature,
        "conditions": weather.conditions,
        "humidity": weather.humidity,
        "time": time,
    }))
}

weft_guest::policy!(run);
