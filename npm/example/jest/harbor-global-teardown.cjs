module.exports = async function harborGlobalTeardown() {
  await globalThis.harborEmulator.stop();
};
