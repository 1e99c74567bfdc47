package job

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestEncodeDecode(t *testing.T) {
	s := Spec{ID: "j1", Preset: "flink-event", RunID: "r1", Overrides: Overrides{Window: Duration(10e9), Dedup: "watermark"}}
	b, err := Encode(s)
	require.NoError(t, err)
	got, err := Decode(b)
	require.NoError(t, err)
	require.Equal(t, s.WithDefaults(), got, "decoded with its defaults")
	require.NoError(t, got.Validate())

	_, err = Decode([]byte("{not json"))
	require.ErrorContains(t, err, "decode job spec")
}

// TestContractImportsNoClient keeps the dependency direction: jobkafka and
// jobstore import this package, never the reverse, and the contract types
// build without a Kafka or Cassandra client.
func TestContractImportsNoClient(t *testing.T) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command to list the dependencies with")
	}
	out, err := exec.Command(goBin, "list", "-deps", "-f", "{{.ImportPath}}", ".").CombinedOutput()
	require.NoError(t, err, string(out))
	for _, dep := range strings.Fields(string(out)) {
		for _, banned := range []string{"github.com/IBM/sarama", "github.com/apache/cassandra-gocql-driver", "github.com/urfave/cli", "/pkg/job/"} {
			require.NotContains(t, dep, banned, "package job must stay plain data")
		}
	}
}
