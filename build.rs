//! Generates the `apache.rocketmq.v2` gRPC service from the vendored .proto files.
//! protox parses them in Rust, so building needs no `protoc` binary.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let protos = [
        "proto/apache/rocketmq/v2/service.proto",
        "proto/apache/rocketmq/v2/definition.proto",
    ];
    for p in &protos {
        println!("cargo:rerun-if-changed={p}");
    }
    let fds = protox::compile(protos, ["proto"])?;
    tonic_prost_build::configure()
        .build_client(false)
        .build_server(true)
        // Message bodies as `Bytes`: received bodies go to the store and stored ones out
        // again without a copy.
        .bytes(".")
        .compile_fds(fds)?;
    Ok(())
}
