//! `/registry/1.0.0` framing: uvarint(length) || protobuf `Message`, at most 1 MiB per frame,
//! carried over a libp2p request-response codec (one request frame, one response frame per stream).

use std::io;

use futures::prelude::*;
use libp2p::request_response;
use libp2p::StreamProtocol;
use prost::Message as _;

use crate::pb;

pub const PROTOCOL: &str = "/registry/1.0.0";
pub const MAX_FRAME: usize = 1 << 20;

pub fn encode_uvarint(mut n: u64, out: &mut Vec<u8>) {
    loop {
        let b = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            out.push(b);
            return;
        }
        out.push(b | 0x80);
    }
}

/// Decode a uvarint at the start of `data`; returns (value, bytes used).
pub fn decode_uvarint(data: &[u8]) -> Option<(u64, usize)> {
    let mut value: u64 = 0;
    for (i, b) in data.iter().enumerate() {
        if i >= 10 {
            return None;
        }
        value |= ((b & 0x7f) as u64) << (7 * i);
        if b & 0x80 == 0 {
            return Some((value, i + 1));
        }
    }
    None
}

pub async fn read_frame<T: AsyncRead + Unpin>(io: &mut T) -> io::Result<Vec<u8>> {
    let mut len: u64 = 0;
    let mut shift = 0;
    loop {
        let mut b = [0u8; 1];
        io.read_exact(&mut b).await?;
        len |= ((b[0] & 0x7f) as u64) << shift;
        if b[0] & 0x80 == 0 {
            break;
        }
        shift += 7;
        if shift > 63 {
            return Err(io::Error::new(io::ErrorKind::InvalidData, "varint too long"));
        }
    }
    if len as usize > MAX_FRAME {
        return Err(io::Error::new(io::ErrorKind::InvalidData, format!("frame of {len} bytes exceeds 1 MiB")));
    }
    let mut buf = vec![0u8; len as usize];
    io.read_exact(&mut buf).await?;
    Ok(buf)
}

pub async fn write_frame<T: AsyncWrite + Unpin>(io: &mut T, body: &[u8]) -> io::Result<()> {
    if body.len() > MAX_FRAME {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "frame exceeds 1 MiB"));
    }
    let mut out = Vec::with_capacity(body.len() + 5);
    encode_uvarint(body.len() as u64, &mut out);
    out.extend_from_slice(body);
    io.write_all(&out).await?;
    io.flush().await
}

/// request-response codec for `/registry/1.0.0`. This peer is only a client, so the
/// behaviour is configured with `ProtocolSupport::Outbound`; the inbound half exists for
/// completeness (and tests) and answers every request with an UNAVAILABLE `error`.
#[derive(Clone, Default)]
pub struct RegistryCodec;

fn decode_msg(buf: &[u8]) -> io::Result<pb::Message> {
    pb::Message::decode(buf).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

impl request_response::Codec for RegistryCodec {
    type Protocol = StreamProtocol;
    type Request = pb::Message;
    type Response = pb::Message;

    async fn read_request<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<pb::Message>
    where
        T: AsyncRead + Unpin + Send,
    {
        decode_msg(&read_frame(io).await?)
    }

    async fn read_response<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<pb::Message>
    where
        T: AsyncRead + Unpin + Send,
    {
        decode_msg(&read_frame(io).await?)
    }

    async fn write_request<T>(&mut self, _: &StreamProtocol, io: &mut T, req: pb::Message) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        write_frame(io, &req.encode_to_vec()).await
    }

    async fn write_response<T>(&mut self, _: &StreamProtocol, io: &mut T, res: pb::Message) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        write_frame(io, &res.encode_to_vec()).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uvarint_roundtrip() {
        for n in [0u64, 1, 127, 128, 300, 16384, 1 << 20, u64::MAX] {
            let mut v = Vec::new();
            encode_uvarint(n, &mut v);
            assert_eq!(decode_uvarint(&v), Some((n, v.len())));
        }
    }

    #[test]
    fn frame_roundtrip_and_limit() {
        futures::executor::block_on(async {
            let mut buf = Vec::new();
            write_frame(&mut buf, b"hello").await.unwrap();
            assert_eq!(buf[0], 5);
            let mut r = futures::io::Cursor::new(buf);
            assert_eq!(read_frame(&mut r).await.unwrap(), b"hello");
            let mut big = Vec::new();
            encode_uvarint((MAX_FRAME + 1) as u64, &mut big);
            let mut r = futures::io::Cursor::new(big);
            assert!(read_frame(&mut r).await.is_err());
        });
    }
}
