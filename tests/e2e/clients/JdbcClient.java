// What DBeaver (and any JDBC tool) does on connect, through the real PostgreSQL JDBC driver
// (pgjdbc): log in, read the server's metadata, browse the schemas, tables and columns through
// DatabaseMetaData (pgjdbc's pg_catalog queries), then run a prepared query with a parameter.
//
// Run by tests/e2e/query_service.rs as a single-file program (Java 11+ runs a .java file):
//   java -cp postgresql.jar tests/e2e/clients/JdbcClient.java PORT USER PASSWORD_FILE
// Prints one line per fact, `key<TAB>value`, for the test to check.
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DatabaseMetaData;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.util.ArrayList;
import java.util.List;
import java.util.Properties;

public class JdbcClient {
    public static void main(String[] args) throws Exception {
        String url = "jdbc:postgresql://127.0.0.1:" + args[0] + "/lantern";
        Properties props = new Properties();
        props.setProperty("user", args[1]);
        props.setProperty("password", Files.readString(Path.of(args[2])).trim());
        props.setProperty("ApplicationName", "DBeaver-like JDBC check");
        try (Connection conn = DriverManager.getConnection(url, props)) {
            DatabaseMetaData meta = conn.getMetaData();
            System.out.println("product\t" + meta.getDatabaseProductName() + " " + meta.getDatabaseProductVersion());
            System.out.println("schemas\t" + column(meta.getSchemas(), "TABLE_SCHEM"));
            System.out.println("tables\t" + column(meta.getTables(null, "public", "%", new String[] {"TABLE", "VIEW"}), "TABLE_NAME"));
            System.out.println("columns\t" + column(meta.getColumns(null, "public", "incidents_monthly", "%"), "COLUMN_NAME"));
            try (PreparedStatement st = conn.prepareStatement(
                    "SELECT SUM(incidents) FROM incidents_monthly WHERE crime_type = ?")) {
                st.setString(1, "Burglary");
                try (ResultSet rs = st.executeQuery()) {
                    rs.next();
                    System.out.println("burglaries\t" + rs.getLong(1));
                }
            } catch (java.sql.SQLException e) {
                System.out.println("refused\t" + e.getSQLState() + " " + e.getMessage().replace('\n', ' '));
            }
        }
    }

    private static String column(ResultSet rs, String name) throws Exception {
        List<String> values = new ArrayList<>();
        try (rs) {
            while (rs.next()) {
                values.add(rs.getString(name));
            }
        }
        values.sort(null);
        return String.join(",", values);
    }
}
