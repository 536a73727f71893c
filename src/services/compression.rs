//! What a handler tells the server about the compression of each reply message.
//!
//! The server decides how to compress replies (its `--response-compression` policy,
//! `crate::server::compression`), but only a handler knows that a message is already
//! compressed (a JPEG or PNG frame gains nothing from gzip and costs CPU), or that its
//! request asked for a compressed reply (the interop tests' `response_compressed`). A
//! handler says so, message by message and in the order it sends them, through the
//! [`ReplyHints`] the server puts in the request's extensions when it may compress the
//! call's replies. A call whose replies will not be compressed gets none, and
//! [`ReplyHints::of`] is then `None`: there is nothing to say.

use std::{
    collections::VecDeque,
    sync::{Arc, Mutex, MutexGuard},
};

use http::Extensions;

/// How one reply message is to be compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ReplyHint {
    /// As the server's policy says (by size and encoding).
    #[default]
    Policy,
    /// Never: the payload is compressed already (JPEG, PNG), or the request asked for
    /// an uncompressed reply.
    Never,
    /// Always, whatever its size, in an encoding the client accepts: the request asked
    /// for a compressed reply.
    Always,
}

/// The hints of one call's reply messages, in the order the handler sends them; shared
/// by the handler (which pushes) and the server's response body (which takes one per
/// message). A message with no hint follows the policy.
#[derive(Debug, Clone, Default)]
pub struct ReplyHints {
    queue: Arc<Mutex<VecDeque<ReplyHint>>>,
}

impl ReplyHints {
    /// The hints of the call whose request has `extensions`, when its replies may be
    /// compressed; `None` otherwise.
    pub fn of(extensions: &Extensions) -> Option<ReplyHints> {
        extensions.get::<ReplyHints>().cloned()
    }

    /// The hint for the next reply message (in the order the handler sends them).
    pub fn push(&self, hint: ReplyHint) {
        self.lock().push_back(hint);
    }

    /// The hint of the next reply message, [`ReplyHint::Policy`] when none was given.
    pub fn next(&self) -> ReplyHint {
        self.lock().pop_front().unwrap_or_default()
    }

    fn lock(&self) -> MutexGuard<'_, VecDeque<ReplyHint>> {
        self.queue
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Pushes `hint` to `hints` when there are hints to give (see [`ReplyHints::of`]).
pub fn hint(hints: Option<&ReplyHints>, hint: ReplyHint) {
    if let Some(hints) = hints {
        hints.push(hint);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hints_come_back_in_the_order_they_were_given_then_policy() {
        let mut extensions = Extensions::new();
        assert!(ReplyHints::of(&extensions).is_none());
        extensions.insert(ReplyHints::default());
        let handler = ReplyHints::of(&extensions).unwrap();
        let server = ReplyHints::of(&extensions).unwrap();
        handler.push(ReplyHint::Never);
        handler.push(ReplyHint::Always);
        assert_eq!(server.next(), ReplyHint::Never);
        assert_eq!(server.next(), ReplyHint::Always);
        assert_eq!(server.next(), ReplyHint::Policy);
    }
}
