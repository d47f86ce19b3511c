package com.acme;

public final class Config {
    public static final String JDBC_URL = "jdbc:mysql://reporter:mjvve631168M@172.23.218.104:3306/reports";
    public static final String PASSWORD = "ljgzac95*R9I";
    private static final String apiKey = "AIzaCHek_Qcgq7WIfOESUOf2V7yt8Yc6Pjm_bks";
    private static final String OPENAI_KEY = "sk-proj-Q7k3UyEUzSXrfY13RxtndvTjjv4Hj4pzMH2mN7m6";
    static final String OWNER = "dana+ci@builds.example.org";

    private Config() {}
}
