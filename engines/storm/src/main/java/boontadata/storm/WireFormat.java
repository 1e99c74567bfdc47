package boontadata.storm;

import java.nio.charset.StandardCharsets;

/**
 * The event wire format {@code message_id|device_id|device_time_ms|category|measure1|measure2}
 * with the rules of the platform's codec (docs/engine.md, "Wire format"): text fields of 1-128
 * bytes (category 1-64) without control characters, device time in ms between 2000-01-01 and
 * 2100-01-01, measure1 a 64-bit signed integer, measure2 {@code -?D+(.D+)?([eE][+-]?D+)?},
 * finite, magnitude at most 1e15; numbers at most 32 bytes.
 */
final class WireFormat {
    static final long MIN_DEVICE_TIME = 946684800000L; // 2000-01-01
    static final long MAX_DEVICE_TIME = 4102444800000L; // 2100-01-01, excluded
    static final int MAX_ID_LEN = 128;
    static final int MAX_CATEGORY_LEN = 64;
    static final int MAX_NUMBER_LEN = 32;
    static final double MAX_MEASURE2 = 1e15;

    private WireFormat() {}

    /** The fields of one event. */
    static final class Event {
        String messageId;
        String deviceId;
        long deviceTime;
        String category;
        long measure1;
        double measure2;
    }

    /** A value that is not an event; the message names the field and the problem. */
    static final class ParseException extends Exception {
        private static final long serialVersionUID = 1L;

        ParseException(String message) {
            super(message, null, false, false);
        }
    }

    /** Parses one record value into {@code into}. */
    static void parse(byte[] b, Event into) throws ParseException {
        if (b == null) {
            throw new ParseException("line: empty value");
        }
        int[] bounds = new int[7];
        int n = 0;
        bounds[n++] = 0;
        for (int i = 0; i < b.length; i++) {
            if (b[i] == '|') {
                if (n == 6) {
                    throw fieldCount(b);
                }
                bounds[n++] = i + 1;
            }
        }
        if (n != 6) {
            throw fieldCount(b);
        }
        bounds[6] = b.length + 1;
        into.messageId = text("message_id", b, bounds[0], bounds[1] - 1, MAX_ID_LEN);
        into.deviceId = text("device_id", b, bounds[1], bounds[2] - 1, MAX_ID_LEN);
        into.deviceTime = deviceTime(b, bounds[2], bounds[3] - 1);
        into.category = text("category", b, bounds[3], bounds[4] - 1, MAX_CATEGORY_LEN);
        into.measure1 = measure1(b, bounds[4], bounds[5] - 1);
        into.measure2 = measure2(b, bounds[5], bounds[6] - 1);
    }

    private static ParseException fieldCount(byte[] b) {
        int pipes = 0;
        for (byte c : b) {
            if (c == '|') {
                pipes++;
            }
        }
        return new ParseException(
                "line: wrong number of fields (want 6 '|'-separated fields, got " + (pipes + 1) + ")");
    }

    private static String shown(byte[] b, int from, int to) {
        String s = new String(b, from, Math.min(to - from, 40), StandardCharsets.UTF_8);
        return "\"" + s + (to - from > 40 ? "..." : "") + "\"";
    }

    private static String text(String field, byte[] b, int from, int to, int maxLen)
            throws ParseException {
        int len = to - from;
        if (len == 0) {
            throw new ParseException(field + ": empty");
        }
        if (len > maxLen) {
            throw new ParseException(
                    field + ": too long (at most " + maxLen + " bytes, got " + len + "): "
                            + shown(b, from, to));
        }
        for (int i = from; i < to; i++) {
            int c = b[i] & 0xff;
            if (c < 0x20 || c == 0x7f) {
                throw new ParseException(
                        field + ": contains a control character: " + shown(b, from, to));
            }
        }
        return new String(b, from, len, StandardCharsets.UTF_8);
    }

    private static void numberText(String field, byte[] b, int from, int to)
            throws ParseException {
        if (to == from) {
            throw new ParseException(field + ": empty");
        }
        if (to - from > MAX_NUMBER_LEN) {
            throw new ParseException(
                    field + ": too long (at most " + MAX_NUMBER_LEN + " bytes, got " + (to - from)
                            + "): " + shown(b, from, to));
        }
    }

    private static long deviceTime(byte[] b, int from, int to) throws ParseException {
        numberText("device_time_ms", b, from, to);
        long v = 0;
        boolean overflow = false;
        for (int i = from; i < to; i++) {
            int d = b[i] - '0';
            if (d < 0 || d > 9) {
                throw new ParseException(
                        "device_time_ms: not an integer (ms since the epoch, digits only): "
                                + shown(b, from, to));
            }
            if (v > (Long.MAX_VALUE - d) / 10) {
                overflow = true;
            } else {
                v = v * 10 + d;
            }
        }
        if (overflow || v < MIN_DEVICE_TIME || v >= MAX_DEVICE_TIME) {
            throw new ParseException(
                    "device_time_ms: out of range (ms since the epoch between 2000-01-01 and"
                            + " 2100-01-01): " + shown(b, from, to));
        }
        return v;
    }

    private static long measure1(byte[] b, int from, int to) throws ParseException {
        numberText("measure1", b, from, to);
        boolean neg = b[from] == '-';
        int i = neg ? from + 1 : from;
        if (i == to) {
            throw new ParseException("measure1: not an integer: " + shown(b, from, to));
        }
        // accumulate negatively so that Long.MIN_VALUE fits
        long v = 0;
        for (; i < to; i++) {
            int d = b[i] - '0';
            if (d < 0 || d > 9) {
                throw new ParseException("measure1: not an integer: " + shown(b, from, to));
            }
            if (v < (Long.MIN_VALUE + d) / 10) {
                throw new ParseException(
                        "measure1: out of range (64-bit signed integer): " + shown(b, from, to));
            }
            v = v * 10 - d;
        }
        if (!neg) {
            if (v == Long.MIN_VALUE) {
                throw new ParseException(
                        "measure1: out of range (64-bit signed integer): " + shown(b, from, to));
            }
            v = -v;
        }
        return v;
    }

    private static double measure2(byte[] b, int from, int to) throws ParseException {
        numberText("measure2", b, from, to);
        int i = from;
        if (b[i] == '-') {
            i++;
        }
        int start = i;
        while (i < to && isDigit(b[i])) {
            i++;
        }
        if (i == start) {
            throw new ParseException("measure2: not a decimal number: " + shown(b, from, to));
        }
        if (i < to && b[i] == '.') {
            i++;
            int fs = i;
            while (i < to && isDigit(b[i])) {
                i++;
            }
            if (i == fs) {
                throw new ParseException(
                        "measure2: not a decimal number (a digit must follow '.'): "
                                + shown(b, from, to));
            }
        }
        if (i < to && (b[i] == 'e' || b[i] == 'E')) {
            i++;
            if (i < to && (b[i] == '+' || b[i] == '-')) {
                i++;
            }
            int es = i;
            while (i < to && isDigit(b[i])) {
                i++;
            }
            if (i == es) {
                throw new ParseException(
                        "measure2: not a decimal number (an exponent needs digits): "
                                + shown(b, from, to));
            }
        }
        if (i != to) {
            throw new ParseException("measure2: not a decimal number: " + shown(b, from, to));
        }
        double v = Double.parseDouble(new String(b, from, to - from, StandardCharsets.US_ASCII));
        if (Double.isInfinite(v)) {
            throw new ParseException(
                    "measure2: not finite (beyond the float64 range): " + shown(b, from, to));
        }
        if (Math.abs(v) > MAX_MEASURE2) {
            throw new ParseException(
                    "measure2: out of range (magnitude at most 1e15, so that sums cannot"
                            + " overflow): " + shown(b, from, to));
        }
        return v;
    }

    private static boolean isDigit(byte c) {
        return c >= '0' && c <= '9';
    }
}
