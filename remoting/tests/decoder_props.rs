//! Property tests of the frame decoder: no input makes it panic (or loop without
//! progress), and every command either header encoding can carry survives a round trip,
//! alone or as part of a stream cut at arbitrary points.

use bytes::{BufMut, Bytes, BytesMut};
use proptest::prelude::*;
use rmqd_remoting::frame::{decode_frame, encode_frame};
use rmqd_remoting::{CommandCodec, ExtFields, LanguageCode, RemotingCommand, SerializeType};
use tokio_util::codec::Decoder;

/// Run the codec over `buf` until it wants more bytes or fails. Returns the commands and
/// whether it stopped on an error. Every decoded frame must consume bytes.
fn drain(codec: &mut CommandCodec, buf: &mut BytesMut) -> (Vec<RemotingCommand>, bool) {
    let mut out = Vec::new();
    loop {
        let before = buf.len();
        match codec.decode(buf) {
            Ok(Some(cmd)) => {
                assert!(buf.len() < before, "a decoded frame consumed nothing");
                out.push(cmd);
            }
            Ok(None) => return (out, false),
            Err(_) => return (out, true),
        }
    }
}

/// Commands the given header encoding carries exactly. The binary header holds 16-bit
/// codes and versions, and drops empty strings (Java reads them as null); the JSON
/// header spells the language by name, so only named languages survive it.
fn command(ser: SerializeType) -> impl Strategy<Value = RemotingCommand> {
    let binary = ser == SerializeType::RocketMq;
    let code = if binary {
        any::<i16>().prop_map(i32::from).boxed()
    } else {
        any::<i32>().boxed()
    };
    let version = if binary {
        any::<i16>().prop_map(i32::from).boxed()
    } else {
        any::<i32>().boxed()
    };
    let language = if binary {
        any::<u8>().prop_map(LanguageCode::from_code).boxed()
    } else {
        (0u8..=12).prop_map(LanguageCode::from_code).boxed()
    };
    let min = usize::from(binary);
    let remark = proptest::option::of(
        proptest::string::string_regex(&format!("(?s).{{{min},40}}")).expect("regex"),
    );
    let text =
        move || proptest::string::string_regex(&format!("(?s).{{{min},24}}")).expect("regex");
    let ext = proptest::collection::vec((text(), text()), 0..8);
    let body = proptest::collection::vec(any::<u8>(), 0..300);
    (
        code,
        language,
        version,
        any::<i32>(),
        any::<i32>(),
        remark,
        ext,
        body,
    )
        .prop_map(
            move |(code, language, version, opaque, flag, remark, ext, body)| RemotingCommand {
                code,
                language,
                version,
                opaque,
                flag,
                remark,
                ext_fields: if ext.is_empty() {
                    None
                } else {
                    Some(ext.into_iter().collect::<ExtFields>())
                },
                body: Bytes::from(body),
                body_parts: Vec::new(),
                serialize_type: ser,
            },
        )
}

fn any_command() -> impl Strategy<Value = RemotingCommand> {
    prop_oneof![
        command(SerializeType::Json),
        command(SerializeType::RocketMq)
    ]
}

/// A valid frame (length word included) of an arbitrary command.
fn valid_wire() -> impl Strategy<Value = Vec<u8>> {
    any_command().prop_map(|c| encode_frame(&c))
}

#[derive(Debug, Clone)]
enum Mutation {
    FlipBit(usize, u8),
    SetByte(usize, u8),
    /// Overwrite four bytes (a length word, wherever one may be) with a value.
    SetWord(usize, u32),
    Truncate(usize),
    Insert(usize, Vec<u8>),
    Remove(usize, usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let word = prop_oneof![
        any::<u32>(),
        Just(0u32),
        Just(u32::MAX),
        Just(i32::MAX as u32),
        Just(i32::MIN as u32),
        Just(16 * 1024 * 1024),
        Just(16 * 1024 * 1024 - 4),
        Just(0x00FF_FFFF),
        Just(0x0100_0000),
        (0u32..64),
    ];
    prop_oneof![
        (any::<usize>(), 0u8..8).prop_map(|(i, b)| Mutation::FlipBit(i, b)),
        (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Mutation::SetByte(i, b)),
        (any::<usize>(), word).prop_map(|(i, w)| Mutation::SetWord(i, w)),
        any::<usize>().prop_map(Mutation::Truncate),
        (
            any::<usize>(),
            proptest::collection::vec(any::<u8>(), 1..16)
        )
            .prop_map(|(i, v)| Mutation::Insert(i, v)),
        (any::<usize>(), 1usize..16).prop_map(|(i, n)| Mutation::Remove(i, n)),
    ]
}

fn apply(v: &mut Vec<u8>, m: &Mutation) {
    let at = |i: usize, len: usize| if len == 0 { 0 } else { i % len };
    match m {
        Mutation::FlipBit(i, b) if !v.is_empty() => {
            let i = at(*i, v.len());
            v[i] ^= 1 << b;
        }
        Mutation::SetByte(i, b) if !v.is_empty() => {
            let i = at(*i, v.len());
            v[i] = *b;
        }
        Mutation::SetWord(i, w) if v.len() >= 4 => {
            // Aligned to 0 or 4 half of the time: the frame's own length words.
            let i = if i % 2 == 0 {
                (i / 2 % 2) * 4
            } else {
                at(*i, v.len() - 3)
            };
            let i = i.min(v.len() - 4);
            v[i..i + 4].copy_from_slice(&w.to_be_bytes());
        }
        Mutation::Truncate(n) => v.truncate(at(*n, v.len() + 1)),
        Mutation::Insert(i, bytes) => {
            let i = at(*i, v.len() + 1);
            v.splice(i..i, bytes.iter().copied());
        }
        Mutation::Remove(i, n) if !v.is_empty() => {
            let i = at(*i, v.len());
            let end = (i + n).min(v.len());
            v.drain(i..end);
        }
        _ => {}
    }
}

/// Decode `wire` (length word included) every way the server can see it.
fn decode_every_way(wire: &[u8]) {
    if wire.len() >= 4 {
        let _ = decode_frame(Bytes::copy_from_slice(&wire[4..]));
    }
    let _ = decode_frame(Bytes::copy_from_slice(wire));
    for max in [64, 4096, rmqd_remoting::DEFAULT_MAX_FRAME_LEN] {
        let mut codec = CommandCodec::new(max);
        drain(&mut codec, &mut BytesMut::from(wire));
    }
}

/// What survives a round trip through `ser` of a command decoded from arbitrary input.
/// code, opaque, flag, remark, sorted ext fields, body.
type Essentials = (i32, i32, i32, Option<String>, Vec<(String, String)>, Bytes);

fn essentials(c: &RemotingCommand) -> Essentials {
    let mut ext: Vec<(String, String)> = c
        .ext_fields
        .iter()
        .flat_map(|e| e.iter().map(|(k, v)| (k.to_owned(), v.to_owned())))
        .collect();
    ext.sort();
    (
        c.code,
        c.opaque,
        c.flag,
        c.remark.clone(),
        ext,
        c.body.clone(),
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic_decode_frame(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let _ = decode_frame(Bytes::from(bytes));
    }

    #[test]
    fn arbitrary_header_never_panics(ser in 0u8..3, header in proptest::collection::vec(any::<u8>(), 0..512), body in proptest::collection::vec(any::<u8>(), 0..32)) {
        // A well-formed length word around arbitrary header bytes reaches the header
        // decoders themselves.
        let mut f = BytesMut::new();
        f.put_u32((u32::from(ser) << 24) | header.len() as u32);
        f.put_slice(&header);
        f.put_slice(&body);
        if let Ok(c) = decode_frame(f.freeze()) {
            prop_assert_eq!(c.body.as_ref(), &body[..]);
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic_the_codec(bytes in proptest::collection::vec(any::<u8>(), 0..2048), max in 0usize..(1 << 20)) {
        let mut codec = CommandCodec::new(max);
        drain(&mut codec, &mut BytesMut::from(&bytes[..]));
        let mut codec = CommandCodec::default();
        drain(&mut codec, &mut BytesMut::from(&bytes[..]));
    }

    #[test]
    fn arbitrary_bytes_in_chunks_never_panic_the_codec(bytes in proptest::collection::vec(any::<u8>(), 0..2048), cuts in proptest::collection::vec(1usize..64, 1..32)) {
        let mut codec = CommandCodec::default();
        let mut buf = BytesMut::new();
        let mut rest = &bytes[..];
        for cut in cuts.iter().cycle() {
            if rest.is_empty() {
                break;
            }
            let (chunk, tail) = rest.split_at((*cut).min(rest.len()));
            rest = tail;
            buf.put_slice(chunk);
            if drain(&mut codec, &mut buf).1 {
                break;
            }
        }
    }

    #[test]
    fn mutated_valid_frames_never_panic(wire in valid_wire(), muts in proptest::collection::vec(mutation(), 1..6)) {
        let mut v = wire;
        for m in &muts {
            apply(&mut v, m);
        }
        decode_every_way(&v);
        // Whatever does decode can be sent back out and read again unchanged.
        if v.len() >= 4 {
            if let Ok(c) = decode_frame(Bytes::copy_from_slice(&v[4..])) {
                let again = decode_frame(Bytes::copy_from_slice(&encode_frame(&c)[4..]));
                prop_assert!(again.is_ok(), "{:?} re-encoded does not decode: {:?}", c, again);
                prop_assert_eq!(essentials(&again.unwrap()), essentials(&c));
            }
        }
    }

    #[test]
    fn commands_round_trip_in_their_encoding(cmd in any_command()) {
        let wire = encode_frame(&cmd);
        prop_assert_eq!(u32::from_be_bytes(wire[..4].try_into().unwrap()) as usize, wire.len() - 4);
        prop_assert_eq!(wire[4], cmd.serialize_type.byte());
        let back = decode_frame(Bytes::copy_from_slice(&wire[4..])).expect("decode");
        prop_assert_eq!(&back, &cmd);
        let via_codec = CommandCodec::default().decode(&mut BytesMut::from(&wire[..])).expect("codec").expect("frame");
        prop_assert_eq!(&via_codec, &cmd);
    }

    #[test]
    fn json_commands_switch_to_binary_losing_only_empty_strings(cmd in command(SerializeType::Json)) {
        let mut c = cmd.clone();
        c.serialize_type = SerializeType::RocketMq;
        let back = decode_frame(Bytes::copy_from_slice(&encode_frame(&c)[4..])).expect("decode");
        prop_assert_eq!(back.opaque, cmd.opaque);
        prop_assert_eq!(back.flag, cmd.flag);
        prop_assert_eq!(back.body, cmd.body.clone());
        if i16::try_from(cmd.code).is_ok() {
            prop_assert_eq!(back.serialize_type, SerializeType::RocketMq);
            prop_assert_eq!(back.code, cmd.code);
            prop_assert_eq!(back.remark, cmd.remark.clone().filter(|r| !r.is_empty()));
            let kept: ExtFields = cmd.ext_fields.iter().flat_map(|e| e.iter())
                .filter(|(k, v)| !k.is_empty() && !v.is_empty())
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect();
            prop_assert_eq!(back.ext_fields.unwrap_or_default(), kept);
        } else {
            // Codes beyond 16 bits only fit a JSON header, so that is what goes out.
            prop_assert_eq!(back.serialize_type, SerializeType::Json);
            prop_assert_eq!(back.code, cmd.code);
            prop_assert_eq!(back.ext_fields, cmd.ext_fields.clone());
        }
    }

    #[test]
    fn binary_commands_switch_to_json(cmd in command(SerializeType::RocketMq)) {
        let mut c = cmd.clone();
        c.serialize_type = SerializeType::Json;
        let back = decode_frame(Bytes::copy_from_slice(&encode_frame(&c)[4..])).expect("decode");
        prop_assert_eq!(essentials(&back), essentials(&cmd));
        prop_assert_eq!(back.version, cmd.version);
    }

    #[test]
    fn command_streams_round_trip_through_the_codec(cmds in proptest::collection::vec(any_command(), 1..8), cuts in proptest::collection::vec(1usize..200, 1..16)) {
        let stream: Vec<u8> = cmds.iter().flat_map(encode_frame).collect();
        let mut codec = CommandCodec::default();
        let mut buf = BytesMut::new();
        let mut got = Vec::new();
        let mut rest = &stream[..];
        for cut in cuts.iter().cycle() {
            if rest.is_empty() {
                break;
            }
            let (chunk, tail) = rest.split_at((*cut).min(rest.len()));
            rest = tail;
            buf.put_slice(chunk);
            let (mut decoded, failed) = drain(&mut codec, &mut buf);
            prop_assert!(!failed);
            got.append(&mut decoded);
        }
        prop_assert!(buf.is_empty());
        prop_assert_eq!(got, cmds);
    }
}

#[test]
fn binary_header_drops_empty_ext_values_and_remarks() {
    // Cases proptest once shrank to: Java reads zero-length strings as null.
    let mut c = RemotingCommand::request(0);
    c.serialize_type = SerializeType::RocketMq;
    c.ext_mut().insert("A", "");
    c.remark = Some(String::new());
    let back = decode_frame(Bytes::copy_from_slice(&encode_frame(&c)[4..])).expect("decode");
    assert_eq!(back.ext("A"), None);
    assert_eq!(back.remark, None);
}

#[test]
fn length_words_at_the_limits() {
    let max = rmqd_remoting::DEFAULT_MAX_FRAME_LEN;
    let cases: [(u32, bool); 7] = [
        (0, true),
        (3, true),
        (4, false),
        ((max - 4) as u32, false),
        ((max - 3) as u32, true),
        (i32::MAX as u32, true),
        (u32::MAX, true),
    ];
    for (len, error) in cases {
        let mut buf = BytesMut::from(&len.to_be_bytes()[..]);
        let r = CommandCodec::default().decode(&mut buf);
        assert_eq!(r.is_err(), error, "length word {len:#x}: {r:?}");
        if !error {
            assert!(
                matches!(r, Ok(None)),
                "length word {len:#x} waits for the rest"
            );
        }
    }
}
