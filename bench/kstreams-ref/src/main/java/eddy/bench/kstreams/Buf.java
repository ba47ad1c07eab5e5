/*
 * Buf.java - a growable byte buffer with varint writers, and a reader over a
 * byte array (the state encoding of WindowAgg and DDSketch). uvarint: LEB128;
 * svarint: zigzag then LEB128; f64: IEEE 754 big endian. Reading past the end
 * throws ArrayIndexOutOfBoundsException.
 */
package eddy.bench.kstreams;

import java.util.Arrays;

final class Buf {
    private byte[] buf;
    private int len; /* writer: bytes written; reader: the limit */
    private int pos; /* reader: next byte */

    Buf(int capacity) {
        buf = new byte[capacity];
    }

    private Buf(byte[] data) {
        buf = data;
        len = data.length;
    }

    static Buf reader(byte[] data) {
        return new Buf(data);
    }

    byte[] toArray() {
        return Arrays.copyOf(buf, len);
    }

    private void put(int b) {
        if (len == buf.length)
            buf = Arrays.copyOf(buf, buf.length * 2 + 16);
        buf[len++] = (byte) b;
    }

    void uvarint(long v) {
        while ((v & ~0x7fL) != 0) {
            put((int) ((v & 0x7f) | 0x80));
            v >>>= 7;
        }
        put((int) v);
    }

    void svarint(long v) {
        uvarint((v << 1) ^ (v >> 63));
    }

    void f64(double d) {
        long bits = Double.doubleToRawLongBits(d);
        for (int shift = 56; shift >= 0; shift -= 8)
            put((int) (bits >>> shift));
    }

    long getUvarint() {
        if (pos < len && buf[pos] >= 0)
            return buf[pos++]; /* one byte: the common case */
        long v = 0;
        for (int shift = 0;; shift += 7) {
            if (pos >= len || shift > 63)
                throw new ArrayIndexOutOfBoundsException("truncated varint");
            int b = buf[pos++] & 0xff;
            v |= (long) (b & 0x7f) << shift;
            if ((b & 0x80) == 0)
                return v;
        }
    }

    long getSvarint() {
        long u = getUvarint();
        return (u >>> 1) ^ -(u & 1);
    }

    double getF64() {
        if (pos + 8 > len)
            throw new ArrayIndexOutOfBoundsException("truncated f64");
        long bits = 0;
        for (int i = 0; i < 8; i++)
            bits = (bits << 8) | (buf[pos++] & 0xff);
        return Double.longBitsToDouble(bits);
    }
}
