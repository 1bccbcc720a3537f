//! The proxy's request checks (`GrpcValidator`, `AbstractMessingActivity`), with its codes
//! and messages.

use super::pb::Code;

type Fail = (Code, String);

/// `TopicValidator.isTopicOrGroupIllegal`: `^[%|a-zA-Z0-9_-]+$`.
fn legal_name(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'%' | b'|' | b'_' | b'-'))
}

pub fn has_control_char(s: &str) -> bool {
    s.chars().any(char::is_control)
}

pub fn topic(name: &str) -> Result<(), Fail> {
    if name.trim().is_empty() {
        return Err((Code::IllegalTopic, "topic name cannot be blank".into()));
    }
    if name.len() > 127 || !legal_name(name) {
        return Err((Code::IllegalTopic, format!("topic name {name} is invalid")));
    }
    if crate::broker::topics::is_system_topic(name) {
        return Err((
            Code::IllegalTopic,
            format!("cannot access system topic: {name}"),
        ));
    }
    Ok(())
}

pub fn group(name: &str) -> Result<(), Fail> {
    if name.trim().is_empty() {
        return Err((
            Code::IllegalConsumerGroup,
            "consumer group cannot be blank".into(),
        ));
    }
    if name.len() > 255 || !legal_name(name) {
        return Err((
            Code::IllegalConsumerGroup,
            format!("consumer group {name} is invalid"),
        ));
    }
    Ok(())
}

pub fn tag(tag: &str) -> Result<(), Fail> {
    if tag.is_empty() {
        return Ok(());
    }
    if tag.trim().is_empty() {
        return Err((
            Code::IllegalMessageTag,
            "tag cannot be the char sequence of whitespace".into(),
        ));
    }
    if tag.contains('|') {
        return Err((Code::IllegalMessageTag, "tag cannot contain '|'".into()));
    }
    if has_control_char(tag) {
        return Err((
            Code::IllegalMessageTag,
            "tag cannot contain control character".into(),
        ));
    }
    Ok(())
}

pub fn message_key(key: &str) -> Result<(), Fail> {
    if !key.is_empty() && key.trim().is_empty() {
        return Err((
            Code::IllegalMessageKey,
            "key cannot be the char sequence of whitespace".into(),
        ));
    }
    if has_control_char(key) {
        return Err((
            Code::IllegalMessageKey,
            "key cannot contain control character".into(),
        ));
    }
    Ok(())
}

/// `ProxyConfig.maxMessageGroupSize`.
const MAX_MESSAGE_GROUP_SIZE: usize = 64;

pub fn message_group(g: &str) -> Result<(), Fail> {
    if g.trim().is_empty() {
        return Err((
            Code::IllegalMessageGroup,
            "message group cannot be the char sequence of whitespace".into(),
        ));
    }
    if g.len() >= MAX_MESSAGE_GROUP_SIZE {
        return Err((
            Code::IllegalMessageGroup,
            format!("message group exceed the max size {MAX_MESSAGE_GROUP_SIZE}"),
        ));
    }
    if has_control_char(g) {
        return Err((
            Code::IllegalMessageGroup,
            "message group cannot contain control character".into(),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proxy_checks() {
        assert!(topic("T_1-%|").is_ok());
        assert_eq!(topic(" ").unwrap_err().0, Code::IllegalTopic);
        assert_eq!(topic("a b").unwrap_err().0, Code::IllegalTopic);
        assert_eq!(
            topic("SCHEDULE_TOPIC_XXXX").unwrap_err().0,
            Code::IllegalTopic
        );
        assert_eq!(group("").unwrap_err().0, Code::IllegalConsumerGroup);
        assert_eq!(tag("a|b").unwrap_err().0, Code::IllegalMessageTag);
        assert!(tag("").is_ok());
        assert_eq!(
            message_group(&"g".repeat(64)).unwrap_err().0,
            Code::IllegalMessageGroup
        );
    }
}
