//! Deliveries as data: each notice an episode owes (fired, reminder, resolved) on each channel of
//! its rule (SMS through the ops topic, email through SES) is a [`Delivery`], kept on the
//! episode's tracker until it is settled, and its [`DeliveryStatus`] is recorded on the alert for
//! the inbox. Pure.

use serde::{Deserialize, Serialize};

use super::{evaluate::Event, rules::Rule};

/// Where a notice goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Channel {
    /// A publish to the ops SNS topic (SMS and the other subscribers).
    Sms,
    /// An email to the rule's recipients through SES.
    Email,
}

impl Channel {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sms => "sms",
            Self::Email => "email",
        }
    }
}

/// One notice owed on one channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Delivery {
    pub event: Event,
    pub channel: Channel,
}

impl Event {
    /// The word stored in delivery keys and sent as the SNS `event` attribute.
    pub fn as_str(self) -> &'static str {
        match self {
            Event::Fired => "fire",
            Event::Reminder => "remind",
            Event::Resolved => "resolve",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        match s {
            "fire" => Some(Event::Fired),
            "remind" => Some(Event::Reminder),
            "resolve" => Some(Event::Resolved),
            _ => None,
        }
    }
}

impl Delivery {
    /// What a rule's channels owe for an event, in the order they are sent.
    pub fn owed(rule: &Rule, event: Event) -> Vec<Delivery> {
        let mut out = Vec::new();
        if rule.channels.sms {
            out.push(Delivery {
                event,
                channel: Channel::Sms,
            });
        }
        if !rule.channels.email.is_empty() {
            out.push(Delivery {
                event,
                channel: Channel::Email,
            });
        }
        out
    }

    /// The stored form: `<event>:<channel>` (`fire:sms`), the key in the tracker's set of owed
    /// deliveries and in the alert's `deliveries` map.
    pub fn key(self) -> String {
        format!("{}:{}", self.event.as_str(), self.channel.as_str())
    }

    pub fn parse(key: &str) -> Option<Self> {
        let (event, channel) = key.split_once(':')?;
        let channel = match channel {
            "sms" => Channel::Sms,
            "email" => Channel::Email,
            _ => return None,
        };
        Some(Self {
            event: Event::parse(event)?,
            channel,
        })
    }

    /// The order notices go out: an episode's fired notice before its reminders before its
    /// resolved notice; SMS before email.
    pub fn sorted(mut deliveries: Vec<Delivery>) -> Vec<Delivery> {
        deliveries.sort();
        deliveries
    }
}

/// Where a delivery stands, as the inbox shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum DeliveryStatus {
    /// Owed and not sent yet (quiet hours, or not reached yet).
    Pending { since: String },
    /// The provider accepted it.
    Sent { at: String },
    /// The last attempt failed for a reason that may pass (throttling, 5xx, timeout): it is sent
    /// again.
    Retrying { at: String, reason: String },
    /// The provider refused it for good (an address SES rejects, a sandbox recipient, a message
    /// SNS refuses): never retried.
    Failed { at: String, reason: String },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deliveries_round_trip_their_stored_keys_and_sort_in_sending_order() {
        for key in ["fire:sms", "remind:email", "resolve:sms"] {
            assert_eq!(Delivery::parse(key).unwrap().key(), key);
        }
        assert_eq!(Delivery::parse("fire:fax"), None);
        assert_eq!(Delivery::parse("fire"), None);
        let sorted = Delivery::sorted(
            ["resolve:sms", "fire:email", "fire:sms", "remind:sms"]
                .iter()
                .map(|k| Delivery::parse(k).unwrap())
                .collect(),
        );
        let keys: Vec<String> = sorted.into_iter().map(Delivery::key).collect();
        assert_eq!(
            keys,
            ["fire:sms", "fire:email", "remind:sms", "resolve:sms"]
        );
    }
}
