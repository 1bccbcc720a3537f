//! `Status` values as the Java proxy builds them (`ResponseBuilder`): broker refusals map
//! through its small table, everything else is INTERNAL_SERVER_ERROR.

use rmqd_remoting::codes::response;

use super::pb::{Code, Status};
use crate::broker::context::Refusal;

pub fn ok() -> Option<Status> {
    Some(with(Code::Ok, "OK"))
}

pub fn with(code: Code, message: impl Into<String>) -> Status {
    Status {
        code: code as i32,
        message: message.into(),
    }
}

pub fn some(code: Code, message: impl Into<String>) -> Option<Status> {
    Some(with(code, message))
}

/// `ResponseBuilder.buildCode`, plus `TopicRouteHelper.isTopicNotExistError`.
pub fn code_of(remoting: i32) -> Code {
    match remoting {
        response::SUCCESS => Code::Ok,
        response::SYSTEM_BUSY => Code::TooManyRequests,
        response::REQUEST_CODE_NOT_SUPPORTED => Code::NotImplemented,
        response::SUBSCRIPTION_GROUP_NOT_EXIST => Code::ConsumerGroupNotFound,
        response::TOPIC_NOT_EXIST => Code::TopicNotFound,
        _ => Code::InternalServerError,
    }
}

pub fn from_refusal(r: &Refusal) -> Option<Status> {
    Some(with(code_of(r.code), r.remark.clone()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn java_mapping() {
        assert_eq!(code_of(response::SYSTEM_BUSY), Code::TooManyRequests);
        assert_eq!(code_of(response::TOPIC_NOT_EXIST), Code::TopicNotFound);
        assert_eq!(code_of(response::NO_PERMISSION), Code::InternalServerError);
        assert_eq!(Code::Ok as i32, 20000);
    }
}
