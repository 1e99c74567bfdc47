package boontadata.spark;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Paths;
import org.junit.jupiter.api.Test;

class OptionsTest {
  private static Options parse(String... args) throws Options.UsageException {
    return Options.parse(args, Paths.get("/state"));
  }

  @Test
  void defaults() throws Exception {
    Options o = parse("--job-id", "j1", "--run-id", "r1");
    assertEquals(Options.Mode.STRUCTURED, o.mode);
    assertEquals("127.0.0.1:9092", o.brokers);
    assertEquals("boontadata-events", o.eventsTopic);
    assertEquals(Options.TimeMode.EVENT, o.time);
    assertEquals(5000, o.windowMs);
    assertEquals("local[2]", o.sparkMaster());
    assertEquals("/state/checkpoints/j1", o.checkpointDir);
  }

  @Test
  void dstreamDefaultsToProcessingTime() throws Exception {
    Options o = parse("--job-id", "j1", "--run-id", "r1", "--mode", "dstream", "--dedup=batch");
    assertEquals(Options.TimeMode.PROCESSING, o.time);
    assertEquals(Options.Dedup.BATCH, o.dedup);
  }

  @Test
  void rejectsWhatSparkCannotDo() {
    String[][] bad = {
      {"--run-id", "r"},
      {"--job-id", "j"},
      {"--job-id", "j", "--run-id", "r", "--lateness-ms", "1000"},
      {"--job-id", "j", "--run-id", "r", "--dedup", "batch"},
      {"--job-id", "j", "--run-id", "r", "--dedup", "watermark", "--dedup-horizon-ms", "5"},
      {"--job-id", "j", "--run-id", "r", "--mode", "dstream", "--time", "event"},
      {"--job-id", "j", "--run-id", "r", "--mode", "dstream", "--window-ms", "10000"},
      {"--job-id", "j", "--run-id", "r", "--mode", "dstream", "--output", "update"},
      {"--job-id", "j", "--run-id", "r", "--window-ms", "0"},
      {"--job-id", "j", "--run-id", "r", "--window-ms", "x"},
      {"--job-id", "j", "--run-id", "r", "--bogus", "1"},
      {"--job-id", "j", "--run-id", "r", "--mode"},
    };
    for (String[] args : bad) {
      Options.UsageException e = assertThrows(Options.UsageException.class, () -> parse(args),
          String.join(" ", args));
      assertTrue(e.getMessage().length() > 10);
    }
  }
}
