//! `GET /v1/events[?alias=NAME]`: alias state changes as newline-delimited JSON, for as
//! long as the client stays. A reader that falls behind gets `{"dropped": N}` in place of
//! the events it missed; the daemon never waits for it.

use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use http_body::Frame;
use http_body_util::{BodyExt as _, StreamBody};
use milvus_connd_protocol::{Event, EventLine};
use tokio::sync::broadcast;

use super::http::{self, Answer};
use crate::peer::Peer;
use crate::registry::Registry;

/// The `alias` query parameter, if any.
pub fn alias_filter(query: Option<&str>) -> Option<String> {
    query?
        .split('&')
        .find_map(|pair| pair.strip_prefix("alias="))
        .map(str::to_owned)
}

fn line(value: &EventLine) -> Bytes {
    let mut text = serde_json::to_vec(value).unwrap_or_default();
    text.push(b'\n');
    Bytes::from(text)
}

struct Reader {
    receiver: broadcast::Receiver<Event>,
    registry: Arc<Registry>,
    peer: Peer,
    alias: Option<String>,
}

impl Reader {
    async fn next_line(&mut self) -> Option<Bytes> {
        loop {
            match self.receiver.recv().await {
                Ok(event) => {
                    if self.alias.as_ref().is_some_and(|a| *a != event.alias)
                        || !self.registry.may_see(&self.peer, &event.alias)
                    {
                        continue;
                    }
                    return Some(line(&EventLine::Event(event)));
                }
                Err(broadcast::error::RecvError::Lagged(dropped)) => {
                    return Some(line(&EventLine::Dropped { dropped }));
                }
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    }
}

pub fn stream(registry: Arc<Registry>, peer: Peer, alias: Option<String>) -> Answer {
    let reader = Reader {
        receiver: registry.events.subscribe(),
        registry,
        peer,
        alias,
    };
    let lines = futures_util::stream::unfold(reader, |mut reader| async move {
        let line = reader.next_line().await?;
        Some((Ok::<_, Infallible>(Frame::data(line)), reader))
    });
    http::ndjson(StreamBody::new(lines).boxed_unsync())
}
