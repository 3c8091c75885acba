import { test } from "./harbor.js";
import { meet } from "./meet.js";

test("worker b has an emulator of its own", { timeout: 60_000 }, ({ harbor }) => meet("b", "a", harbor));
