//! The plain-ACL decoders: the signature check over a received frame, and the ACL file
//! with its address patterns (compiled from the binary crate's source, see the crate root).

use rmqd_remoting::frame::decode_frame;

use crate::{acl_file as file, address, perm};

/// Any frame: checking its signature answers yes or no; a frame signed with a key
/// verifies with that key after a re-encode.
pub fn signature(data: &[u8]) {
    let Ok(mut cmd) = decode_frame(bytes::Bytes::copy_from_slice(data)) else {
        return;
    };
    let _ = rmqd_remoting::acl::verify_request(&cmd, "fuzzSecret");
    rmqd_remoting::acl::sign_request(&mut cmd, "fuzzAccess", "fuzzSecret");
    let encoded = rmqd_remoting::frame::encode_frame(&cmd);
    let back = decode_frame(bytes::Bytes::copy_from_slice(&encoded[4..])).expect("re-decodes");
    assert!(rmqd_remoting::acl::verify_request(&back, "fuzzSecret"));
}

/// Any file text: accounts, white addresses and versions read without panicking, every
/// account builds or is refused, every address pattern parses or is refused and matches
/// any host without panicking.
pub fn file(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let Ok(doc) = file::parse(&text) else {
        return;
    };
    let Some(map) = file::as_map(&doc) else {
        return;
    };
    let _ = file::data_version(map);
    for w in file::global_white(map) {
        if let Ok(p) = address::AddressPattern::parse(Some(&w)) {
            let _ = p.matches("127.0.0.1");
            let _ = p.matches("0:0:0:0:0:0:0:1");
        }
    }
    for a in file::accounts(map) {
        if let Ok(acc) = perm::Account::build(&a) {
            let _ = acc.check(
                10,
                &[("T".into(), perm::PUB), ("%RETRY%G".into(), perm::SUB)],
            );
        }
    }
    let _ = file::render(map);
}
