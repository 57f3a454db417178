//! The one driver of input-required rounds (2026-07-28): an upstream that
//! needs the agent's input (sampling, elicitation, roots) answers a
//! request with the questions; the driver gets the answers and sends the
//! request again with them, at most [`MAX_INPUT_ROUNDS`] times. Or, for an
//! agent of the same era, it hands the questions back to the agent as
//! they are. Tool calls, prompts and resource reads all use it.

use std::future::Future;

use rmcp::model::{InputRequest, InputRequiredResult, InputResponses};
use rmcp::service::ServiceError;

/// How many input-required rounds weft drives for one request.
pub const MAX_INPUT_ROUNDS: usize = 10;

/// One round's answer from the upstream.
pub(crate) enum Round<T> {
    Done(T),
    Input(InputRequiredResult),
}

/// What the rounds ended in.
pub(crate) enum Driven<T> {
    Done(T),
    /// Handed back to the agent as it is (`pass` was set).
    InputRequired(InputRequiredResult),
}

/// Sends a request (`send`, given the answers and the state of the last
/// round, `None` on the first) until the upstream is done. When `pass` is
/// set, input-required goes back to the caller at once; otherwise every
/// question is put to `ask`, one at a time, in the order the upstream
/// keyed them.
pub(crate) async fn drive<T, S, SF, A, AF>(
    first: (Option<InputResponses>, Option<String>),
    pass: bool,
    mut send: S,
    ask: A,
) -> Result<Driven<T>, ServiceError>
where
    S: FnMut(Option<InputResponses>, Option<String>) -> SF,
    SF: Future<Output = Result<Round<T>, ServiceError>>,
    A: Fn(InputRequest) -> AF,
    AF: Future<Output = Result<serde_json::Value, ServiceError>>,
{
    let (mut responses, mut state) = first;
    for _round in 0..MAX_INPUT_ROUNDS {
        let input = match send(responses.take(), state.take()).await? {
            Round::Done(done) => return Ok(Driven::Done(done)),
            Round::Input(input) if pass => return Ok(Driven::InputRequired(input)),
            Round::Input(input) => input,
        };
        let mut answers = InputResponses::new();
        for (key, request) in input.input_requests.unwrap_or_default() {
            answers.insert(key, ask(request).await?);
        }
        responses = Some(answers);
        state = input.request_state;
    }
    Err(ServiceError::InputRequiredRoundsExceeded {
        max_rounds: MAX_INPUT_ROUNDS,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn asking(state: &str) -> InputRequiredResult {
        serde_json::from_value(serde_json::json!({
            "resultType": "input_required",
            "inputRequests": {"roots": {"method": "roots/list"}},
            "requestState": state,
        }))
        .expect("a valid input-required result")
    }

    #[tokio::test]
    async fn answers_go_back_with_the_state_until_the_upstream_is_done() {
        let sent = AtomicUsize::new(0);
        let driven = drive(
            (None, None),
            false,
            |responses, state| {
                let n = sent.fetch_add(1, Ordering::SeqCst);
                async move {
                    match n {
                        0 => {
                            assert!(responses.is_none() && state.is_none());
                            Ok(Round::Input(asking("s1")))
                        }
                        _ => {
                            assert_eq!(state.as_deref(), Some("s1"));
                            let r = responses.unwrap_or_default();
                            assert_eq!(r.get("roots"), Some(&serde_json::json!({"roots": []})));
                            Ok(Round::Done("done"))
                        }
                    }
                }
            },
            |_| async { Ok(serde_json::json!({"roots": []})) },
        )
        .await;
        assert!(matches!(driven, Ok(Driven::Done("done"))));
        assert_eq!(sent.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_same_era_agent_gets_the_questions_and_a_loop_ends() {
        let passed = drive::<(), _, _, _, _>(
            (None, None),
            true,
            |_, _| async { Ok(Round::Input(asking("s"))) },
            |_| async { Err(ServiceError::TransportClosed) },
        )
        .await;
        assert!(matches!(passed, Ok(Driven::InputRequired(_))));
        let looped = drive::<(), _, _, _, _>(
            (None, None),
            false,
            |_, _| async { Ok(Round::Input(asking("s"))) },
            |_| async { Ok(serde_json::json!({"roots": []})) },
        )
        .await;
        assert!(matches!(
            looped,
            Err(ServiceError::InputRequiredRoundsExceeded {
                max_rounds: MAX_INPUT_ROUNDS
            })
        ));
    }
}
