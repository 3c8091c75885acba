import { test } from "./harbor.js";
import { meet } from "./meet.js";

test("worker a has an emulator of its own", { timeout: 60_000 }, ({ harbor }) => meet("a", "b", harbor));
