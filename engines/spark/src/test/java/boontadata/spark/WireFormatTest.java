package boontadata.spark;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;

import org.junit.jupiter.api.Test;

class WireFormatTest {
  @Test
  void parsesTheExample() {
    WireFormat.Event e = WireFormat.parse("123-12|123|1472209316326|cat1|456|789.12");
    assertNotNull(e);
    assertEquals("123-12", e.messageId);
    assertEquals("123", e.deviceId);
    assertEquals(1472209316326L, e.deviceTime);
    assertEquals("cat1", e.category);
    assertEquals(456L, e.measure1);
    assertEquals(789.12, e.measure2);
  }

  @Test
  void acceptsTheEdges() {
    assertEquals(Long.MIN_VALUE,
        WireFormat.parse("a|b|946684800000|c|-9223372036854775808|1e-400").measure1);
    assertEquals(Long.MAX_VALUE,
        WireFormat.parse("a|b|4102444799999|c|9223372036854775807|-0.5E+3").measure1);
    assertEquals(-500.0, WireFormat.parse("a|b|4102444799999|c|1|-0.5E+3").measure2);
    assertEquals(0.0, WireFormat.parse("a|b|946684800000|c|0|1e-400").measure2);
  }

  @Test
  void rejectsPoison() {
    String[] bad = {
      "end-of-run|run-1",
      "",
      "a|b|1472209316326|c|1",
      "a|b|1472209316326|c|1|2|3",
      "|b|1472209316326|c|1|2",
      "a||1472209316326|c|1|2",
      "a|b|1472209316326||1|2",
      "a\tx|b|1472209316326|c|1|2",
      "a|b\u007f|1472209316326|c|1|2",
      "a|b|1472209316|c|1|2", // seconds
      "a|b|4102444800000|c|1|2", // 2100-01-01 excluded
      "a|b|+1472209316326|c|1|2",
      "a|b|1472209316326|c|45.6|2",
      "a|b|1472209316326|c|9223372036854775808|2",
      "a|b|1472209316326|c|-9223372036854775809|2",
      "a|b|1472209316326|c|-|2",
      "a|b|1472209316326|c|1|inf",
      "a|b|1472209316326|c|1|NaN",
      "a|b|1472209316326|c|1|1e999",
      "a|b|1472209316326|c|1|+1",
      "a|b|1472209316326|c|1|1.",
      "a|b|1472209316326|c|1|.5",
      "a|b|1472209316326|c|1|0x10",
      "a|b|1472209316326|c|1|1_0",
      "a|b|1472209316326|c|1|1e",
      "a|b|1472209316326|c|1|" + "1".repeat(33),
      "x".repeat(129) + "|b|1472209316326|c|1|2",
      "a|b|1472209316326|" + "c".repeat(65) + "|1|2",
    };
    for (String s : bad) {
      assertNull(WireFormat.parse(s), s);
    }
    assertNotNull(WireFormat.parse("x".repeat(128) + "|b|1472209316326|" + "c".repeat(64)
        + "|1|" + "1".repeat(32)));
  }

  @Test
  void formatsLines() {
    assertEquals("result|j|r|d|c|0|5000|3|1.5|2|2|1|42",
        ResultsWriter.resultLine("j", "r", "d", "c", 0, 5000, 3, 1.5, 2, 2, true, 42));
    assertEquals("result|j|r|d|c|0|5000|3|1.0E-7|2|2|0|42",
        ResultsWriter.resultLine("j", "r", "d", "c", 0, 5000, 3, 1e-7, 2, 2, false, 42));
    assertEquals("end|j|r|42", ResultsWriter.endLine("j", "r", 42));
  }
}
