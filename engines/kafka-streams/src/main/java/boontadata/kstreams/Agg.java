package boontadata.kstreams;

import org.apache.kafka.common.serialization.Deserializer;
import org.apache.kafka.common.serialization.Serde;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.common.serialization.Serializer;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/**
 * The aggregate of one window of one record key (a device id): one {@link Cell} per (device,
 * category) of the window. The windowed aggregation is keyed by the Kafka record key, so that it
 * runs in the task of the record's partition without a repartition; the categories of a device
 * are the cells of its aggregate (docs/engines.md, "Kafka Streams").
 */
final class Agg {
    static final class Cell {
        String deviceId;
        String category;
        long sum1;
        double sum2;
        long count;
    }

    final List<Cell> cells;

    Agg() {
        this.cells = new ArrayList<>(4);
    }

    private Agg(int n) {
        this.cells = new ArrayList<>(n);
    }

    /** Adds an event: sum(measure1) wraps like Java's long, sum(measure2) is a plain double sum. */
    Agg add(Ev e) {
        if (e.kind != Ev.EVENT) {
            return this;
        }
        for (Cell c : cells) {
            if (c.category.equals(e.category) && c.deviceId.equals(e.deviceId)) {
                c.sum1 += e.measure1;
                c.sum2 += e.measure2;
                c.count++;
                return this;
            }
        }
        Cell c = new Cell();
        c.deviceId = e.deviceId;
        c.category = e.category;
        c.sum1 = e.measure1;
        c.sum2 = e.measure2;
        c.count = 1;
        cells.add(c);
        return this;
    }

    static Serde<Agg> serde() {
        return Serdes.serdeFrom(new Ser(), new De());
    }

    static final class Ser implements Serializer<Agg> {
        @Override
        public byte[] serialize(String topic, Agg a) {
            if (a == null) {
                return null;
            }
            List<byte[]> texts = new ArrayList<>(a.cells.size() * 2);
            int size = 4;
            for (Cell c : a.cells) {
                byte[] d = c.deviceId.getBytes(StandardCharsets.UTF_8);
                byte[] k = c.category.getBytes(StandardCharsets.UTF_8);
                texts.add(d);
                texts.add(k);
                size += 4 + d.length + 4 + k.length + 8 + 8 + 8;
            }
            ByteBuffer b = ByteBuffer.allocate(size);
            b.putInt(a.cells.size());
            int i = 0;
            for (Cell c : a.cells) {
                byte[] d = texts.get(i++);
                byte[] k = texts.get(i++);
                b.putInt(d.length).put(d).putInt(k.length).put(k);
                b.putLong(c.sum1).putDouble(c.sum2).putLong(c.count);
            }
            return b.array();
        }
    }

    static final class De implements Deserializer<Agg> {
        @Override
        public Agg deserialize(String topic, byte[] data) {
            if (data == null) {
                return null;
            }
            ByteBuffer b = ByteBuffer.wrap(data);
            int n = b.getInt();
            Agg a = new Agg(Math.max(n, 4));
            for (int i = 0; i < n; i++) {
                Cell c = new Cell();
                c.deviceId = text(b);
                c.category = text(b);
                c.sum1 = b.getLong();
                c.sum2 = b.getDouble();
                c.count = b.getLong();
                a.cells.add(c);
            }
            return a;
        }

        private static String text(ByteBuffer b) {
            int len = b.getInt();
            String s = new String(b.array(), b.arrayOffset() + b.position(), len, StandardCharsets.UTF_8);
            b.position(b.position() + len);
            return s;
        }
    }
}
