package boontadata.spark;

/** Names of the engine contract (docs/engines.md, "What an engine reads"). */
public final class Contract {
  private Contract() {}

  public static final String HEADER_RUN_ID = "boontadata-run-id";
  public static final String HEADER_INGEST_TIME = "boontadata-ingest-time";
  public static final String HEADER_CONTROL = "boontadata-control";
  public static final String CONTROL_END_OF_RUN = "end-of-run";
}
