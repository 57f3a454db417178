//! A policy that does nothing but return its input.

use weft_guest::prelude::*;

fn run(input: Value) -> Result<Value, Error> {
    Ok(input)
}

weft_guest::policy!(run);
