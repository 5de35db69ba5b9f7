package ai.batchtopk.bindings;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import org.junit.jupiter.api.Test;

/**
 * The generated bindings must come from the header as it is now: regenerate.sh records the
 * header's SHA-256 next to the generated classes, and this test compares it with the header.
 */
class BindingsMatchHeaderTest {

    private static final String HASH_RESOURCE = "/ai/batchtopk/bindings/header.sha256";

    private static Path header() {
        String configured = System.getProperty("batchtopk.header");
        Path path = configured == null || configured.isBlank()
                ? Path.of("..", "native", "include", "batchtopk.h")
                : Path.of(configured);
        return path.toAbsolutePath().normalize();
    }

    private static String recordedHash() throws IOException {
        try (InputStream in = BindingsMatchHeaderTest.class.getResourceAsStream(HASH_RESOURCE)) {
            assertNotNull(in, "missing resource " + HASH_RESOURCE + ": run bindings/regenerate.sh");
            return new String(in.readAllBytes(), StandardCharsets.US_ASCII).trim();
        }
    }

    private static String sha256(Path file) throws IOException, NoSuchAlgorithmException {
        byte[] digest = MessageDigest.getInstance("SHA-256").digest(Files.readAllBytes(file));
        return HexFormat.of().formatHex(digest);
    }

    @Test
    void bindingsWereGeneratedFromTheCurrentHeader() throws Exception {
        Path header = header();
        assertTrue(
                Files.isRegularFile(header),
                "header not found: " + header + " (set the system property batchtopk.header to its path)");
        assertEquals(
                recordedHash(),
                sha256(header),
                header + " changed since the Java bindings were generated: run bindings/regenerate.sh"
                        + " (needs jextract on PATH) and commit the regenerated bindings/src/main");
    }

    @Test
    void headerClassIsGenerated() {
        // A compile-time reference: the constants are plain static methods of the header class.
        assertEquals(0, batchtopk_h.BTK_OK());
    }
}
