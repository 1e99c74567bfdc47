package boontadata.spark;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.Map;
import java.util.Properties;
import java.util.TreeMap;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The end of a run's input (docs/engines.md, "End-of-run marker"): which
 * partitions of the events topic delivered the end-of-run marker of the job's
 * run in a batch that Spark completed, and in which batch the last one came.
 *
 * <p>The state is kept in a small file beside the job's checkpoint, written
 * as soon as a marker is known, so that a restarted job does not wait for
 * markers that Spark already consumed before the restart.
 */
public final class EndOfRun {
  private static final Logger LOG = LoggerFactory.getLogger(EndOfRun.class);

  private final Path file;
  private final TreeMap<Integer, Long> markers = new TreeMap<>();
  private long lastMarkerBatch = -1;
  private boolean ended;

  public EndOfRun(Path checkpointDir) throws IOException {
    Files.createDirectories(checkpointDir);
    this.file = checkpointDir.resolve("boontadata-end-of-run.properties");
    if (Files.exists(file)) {
      Properties p = new Properties();
      try (InputStream in = Files.newInputStream(file)) {
        p.load(in);
      }
      for (String k : p.stringPropertyNames()) {
        if (k.startsWith("marker.")) {
          markers.put(Integer.parseInt(k.substring(7)), Long.parseLong(p.getProperty(k)));
        }
      }
      lastMarkerBatch = Long.parseLong(p.getProperty("last-marker-batch", "-1"));
      ended = Boolean.parseBoolean(p.getProperty("ended", "false"));
      LOG.info("restored end-of-run state from {}: {} partition(s) ended, last marker in batch {}",
          file, markers.size(), lastMarkerBatch);
    }
  }

  /** Records the marker of one partition, seen in a completed batch. */
  public synchronized void marker(int partition, long offset, long batch) throws IOException {
    if (markers.containsKey(partition)) {
      return;
    }
    markers.put(partition, offset);
    lastMarkerBatch = Math.max(lastMarkerBatch, batch);
    save();
  }

  /** True when each of the topic's partitions delivered its marker. */
  public synchronized boolean complete(int partitions) {
    if (partitions <= 0) {
      return false;
    }
    for (int p = 0; p < partitions; p++) {
      if (!markers.containsKey(p)) {
        return false;
      }
    }
    return true;
  }

  public synchronized int count() {
    return markers.size();
  }

  public synchronized long lastMarkerBatch() {
    return lastMarkerBatch;
  }

  public synchronized boolean ended() {
    return ended;
  }

  public synchronized Map<Integer, Long> markers() {
    return new TreeMap<>(markers);
  }

  /** Records that the end line was written. */
  public synchronized void markEnded() throws IOException {
    ended = true;
    save();
  }

  private void save() throws IOException {
    Properties p = new Properties();
    for (Map.Entry<Integer, Long> e : markers.entrySet()) {
      p.setProperty("marker." + e.getKey(), Long.toString(e.getValue()));
    }
    p.setProperty("last-marker-batch", Long.toString(lastMarkerBatch));
    p.setProperty("ended", Boolean.toString(ended));
    Path tmp = file.resolveSibling(file.getFileName() + ".tmp");
    try (OutputStream out = Files.newOutputStream(tmp)) {
      p.store(out, "end-of-run markers seen by this job (partition -> offset)");
    }
    Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
  }
}
