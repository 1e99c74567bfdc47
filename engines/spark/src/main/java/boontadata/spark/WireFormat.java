package boontadata.spark;

import java.io.Serializable;
import java.nio.charset.StandardCharsets;
import java.util.regex.Pattern;

/**
 * The event wire format of docs/engine.md ("Wire format (pkg/event)"):
 * {@code message_id|device_id|device_time_ms|category|measure1|measure2}.
 *
 * <p>The rules are those of the Go codec (pkg/event/parse.go), so that a record
 * the project's own engine counts as a poison record is a poison record here
 * too: six fields, text fields of 1 to 128 bytes (category: 64) without
 * control characters (below 0x20, and DEL), device time as digits only within
 * [2000-01-01, 2100-01-01), measure1 a 64-bit signed integer, measure2
 * {@code -?D+(.D+)?([eE][+-]?D+)?} and finite, numbers at most 32 bytes.
 */
public final class WireFormat {
  public static final int NUM_FIELDS = 6;
  public static final int MAX_ID_LEN = 128;
  public static final int MAX_CATEGORY_LEN = 64;
  public static final int MAX_NUMBER_LEN = 32;
  public static final long MIN_DEVICE_TIME = 946684800000L; // 2000-01-01T00:00:00Z
  public static final long MAX_DEVICE_TIME = 4102444800000L; // 2100-01-01T00:00:00Z, excluded

  private static final Pattern MEASURE2 =
      Pattern.compile("-?[0-9]+(\\.[0-9]+)?([eE][+-]?[0-9]+)?");

  private WireFormat() {}

  /** One parsed event. */
  public static final class Event implements Serializable {
    private static final long serialVersionUID = 1L;
    public final String messageId;
    public final String deviceId;
    public final long deviceTime;
    public final String category;
    public final long measure1;
    public final double measure2;

    public Event(String messageId, String deviceId, long deviceTime, String category,
        long measure1, double measure2) {
      this.messageId = messageId;
      this.deviceId = deviceId;
      this.deviceTime = deviceTime;
      this.category = category;
      this.measure1 = measure1;
      this.measure2 = measure2;
    }

    @Override
    public String toString() {
      return messageId + "|" + deviceId + "|" + deviceTime + "|" + category + "|" + measure1
          + "|" + measure2;
    }
  }

  /** Parses a record value; returns null when it is not an event (a poison record). */
  public static Event parse(byte[] line) {
    if (line == null) {
      return null;
    }
    int[] bounds = new int[NUM_FIELDS + 1];
    int k = 0;
    bounds[0] = 0;
    for (int i = 0; i < line.length; i++) {
      if (line[i] == '|') {
        k++;
        if (k >= NUM_FIELDS) {
          return null; // a '|' after the sixth field
        }
        bounds[k] = i + 1;
      }
    }
    if (k != NUM_FIELDS - 1) {
      return null;
    }
    bounds[NUM_FIELDS] = line.length + 1;
    String id = text(line, bounds[0], bounds[1] - 1, MAX_ID_LEN);
    String device = text(line, bounds[1], bounds[2] - 1, MAX_ID_LEN);
    String category = text(line, bounds[3], bounds[4] - 1, MAX_CATEGORY_LEN);
    if (id == null || device == null || category == null) {
      return null;
    }
    long time;
    long m1;
    double m2;
    try {
      time = deviceTime(line, bounds[2], bounds[3] - 1);
      m1 = measure1(line, bounds[4], bounds[5] - 1);
      m2 = measure2(line, bounds[5], bounds[6] - 1);
    } catch (IllegalArgumentException e) {
      return null;
    }
    return new Event(id, device, time, category, m1, m2);
  }

  /** Parses a string value (tests, tools). */
  public static Event parse(String line) {
    return line == null ? null : parse(line.getBytes(StandardCharsets.UTF_8));
  }

  private static String text(byte[] b, int from, int to, int maxLen) {
    int n = to - from;
    if (n <= 0 || n > maxLen) {
      return null;
    }
    for (int i = from; i < to; i++) {
      int c = b[i] & 0xff;
      if (c < 0x20 || c == 0x7f) {
        return null;
      }
    }
    return new String(b, from, n, StandardCharsets.UTF_8);
  }

  private static void checkNumber(int from, int to) {
    int n = to - from;
    if (n <= 0 || n > MAX_NUMBER_LEN) {
      throw new IllegalArgumentException("number length");
    }
  }

  private static long deviceTime(byte[] b, int from, int to) {
    checkNumber(from, to);
    long n = 0;
    for (int i = from; i < to; i++) {
      int d = b[i] - '0';
      if (d < 0 || d > 9) {
        throw new IllegalArgumentException("device time: digits only");
      }
      if (n > MAX_DEVICE_TIME) {
        throw new IllegalArgumentException("device time: range");
      }
      n = n * 10 + d;
    }
    if (n < MIN_DEVICE_TIME || n >= MAX_DEVICE_TIME) {
      throw new IllegalArgumentException("device time: range");
    }
    return n;
  }

  private static long measure1(byte[] b, int from, int to) {
    checkNumber(from, to);
    boolean neg = b[from] == '-';
    int start = neg ? from + 1 : from;
    if (start == to) {
      throw new IllegalArgumentException("measure1: not an integer");
    }
    // Accumulate negatively so that Long.MIN_VALUE is reachable.
    long n = 0;
    for (int i = start; i < to; i++) {
      int d = b[i] - '0';
      if (d < 0 || d > 9) {
        throw new IllegalArgumentException("measure1: not an integer");
      }
      if (n < (Long.MIN_VALUE + d) / 10) {
        throw new IllegalArgumentException("measure1: range");
      }
      n = n * 10 - d;
    }
    if (!neg) {
      if (n == Long.MIN_VALUE) {
        throw new IllegalArgumentException("measure1: range");
      }
      return -n;
    }
    return n;
  }

  private static double measure2(byte[] b, int from, int to) {
    checkNumber(from, to);
    String s = new String(b, from, to - from, StandardCharsets.US_ASCII);
    if (!MEASURE2.matcher(s).matches()) {
      throw new IllegalArgumentException("measure2: not a number");
    }
    double f = Double.parseDouble(s);
    if (Double.isInfinite(f) || Double.isNaN(f)) {
      throw new IllegalArgumentException("measure2: not finite");
    }
    return f;
  }
}
