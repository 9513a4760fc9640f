//! Messages between the main process and its workers: one JSON object per
//! line over the socket pair each worker inherits as file descriptor 3.

use std::io;

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixStream;
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};

use crate::config::Snapshot;
use crate::control::{Answer, WorkerQuery};
use crate::listen::SocketKind;

/// The environment variable that tells a process it is a worker, with its
/// number and generation: `<id>:<generation>`.
pub(crate) const WORKER_ENV: &str = "SERVICE_RUNTIME_WORKER";

/// The descriptor a worker finds its channel on.
pub(crate) const CHANNEL_FD: i32 = 3;

/// The descriptor of a worker's first listening socket; the others follow.
pub(crate) const FIRST_LISTENER_FD: i32 = 4;

/// From the main process to a worker.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(crate) enum ToWorker {
    /// The configuration to start with; always the first message.
    Start {
        /// The validated configuration.
        snapshot: Snapshot,
        /// Names and kinds of the listening sockets, which the worker finds
        /// from `FIRST_LISTENER_FD` on, in this order.
        listeners: Vec<(String, SocketKind)>,
    },
    /// Stop the service.
    Stop {
        /// Whether in-flight work may finish.
        graceful: bool,
    },
    /// Apply a new configuration in place (`mutate` reload).
    Apply {
        /// The configuration with new values for mutable options only.
        snapshot: Snapshot,
    },
    /// Open the log file again after rotation.
    ReopenLogs,
    /// A question from the control socket; the worker answers with
    /// [`FromWorker::Answer`] and the same `id`.
    Query {
        /// Pairs the answer with the question.
        id: u64,
        /// The question.
        query: WorkerQuery,
    },
}

/// From a worker to the main process.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(crate) enum FromWorker {
    /// `start` returned: the worker serves.
    Ready,
    /// `new` or `start` failed; the worker exits next.
    StartFailed {
        /// The error, with its causes.
        error: String,
    },
    /// The answer to [`ToWorker::Query`].
    Answer {
        /// The `id` of the question.
        id: u64,
        /// The result, or why there is none.
        answer: Answer,
    },
}

/// Writes messages, one line each.
pub(crate) struct Sender {
    half: OwnedWriteHalf,
}

impl Sender {
    pub(crate) async fn send<T: Serialize>(&mut self, message: &T) -> io::Result<()> {
        let mut line = serde_json::to_vec(message).map_err(io::Error::other)?;
        line.push(b'\n');
        self.half.write_all(&line).await
    }
}

/// Reads messages, one line each. `None` at end of stream: the peer is gone.
pub(crate) struct Receiver {
    lines: tokio::io::Lines<BufReader<OwnedReadHalf>>,
}

impl Receiver {
    pub(crate) async fn recv<T: for<'de> Deserialize<'de>>(&mut self) -> io::Result<Option<T>> {
        let Some(line) = self.lines.next_line().await? else {
            return Ok(None);
        };
        serde_json::from_str(&line)
            .map(Some)
            .map_err(io::Error::other)
    }
}

/// Splits a channel into its two directions.
pub(crate) fn split(stream: UnixStream) -> (Sender, Receiver) {
    let (read, write) = stream.into_split();
    let lines = BufReader::new(read).lines();
    (Sender { half: write }, Receiver { lines })
}
