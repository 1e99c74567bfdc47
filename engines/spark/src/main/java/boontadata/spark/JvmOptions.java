package boontadata.spark;

/**
 * Prints the JVM options Spark's launcher gives a Spark JVM on Java 17+
 * (--add-opens and friends, org.apache.spark.launcher.JavaModuleOptions); run.sh
 * starts the driver with them, since it does not go through spark-submit.
 */
public final class JvmOptions {
  private JvmOptions() {}

  public static void main(String[] args) {
    System.out.println(org.apache.spark.launcher.JavaModuleOptions.defaultModuleOptions());
  }
}
