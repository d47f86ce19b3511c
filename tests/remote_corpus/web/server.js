const express = require("express");
const { Octokit } = require("@octokit/rest");

const octokit = new Octokit({ auth: "ghp_URLJ8aZin9mnHAqY1ds5vzH5KUbyT5kn4l2e" });
const slackToken = "xoxb-326194645011-252410998550-a7qtwrXN9z33yEPdsszupioX";
const mapsKey = "AIzaDgroa7RCAprH0FivnthG_B1-Zt3b5fP-kQL";
const mongoUri = "mongodb://app:slhgd3436kvQ@db.internal:27017/app";
const sessionSecret = "UPCHpZ5fQakXmmbZ2rdnitlXKPHrWQU7";
const adminJwt = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJ1c2VyLTEiLCJpYXQiOjE2Mzk2ODA2MzZ9.zsdOhXky8uIdAWfR80BAm6pNyN5bPe6JODs3JSSJJEU";

const app = express();
app.get("/health", (req, res) => res.json({ ok: true, contact: "j.okafor@payments.example.net" }));
app.listen(8080, "10.109.239.175");
