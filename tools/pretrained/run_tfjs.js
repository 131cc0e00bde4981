// Runs the TF.js graph model on int32 NHWC inputs read from a raw file; writes float32 outputs.
const fs = require('fs');
const path = require('path');
const tf = require('@tensorflow/tfjs-core');
require('@tensorflow/tfjs-backend-cpu');
const tfconv = require('@tensorflow/tfjs-converter');
async function main() {
  const [modelJson, inFile, h, w, outFile] = process.argv.slice(2);
  await tf.setBackend('cpu');
  const model = JSON.parse(fs.readFileSync(modelJson));
  const dir = path.dirname(modelJson);
  const specs = [];
  const buffers = [];
  for (const group of model.weightsManifest) {
    specs.push(...group.weights);
    for (const p of group.paths) buffers.push(fs.readFileSync(path.join(dir, p)));
  }
  const weightData = Buffer.concat(buffers);
  const ab = weightData.buffer.slice(weightData.byteOffset, weightData.byteOffset + weightData.byteLength);
  const handler = tf.io.fromMemory({modelTopology: model.modelTopology, weightSpecs: specs, weightData: ab, format: model.format, generatedBy: model.generatedBy, convertedBy: model.convertedBy, signature: model.signature});
  const graph = await tfconv.loadGraphModel(handler);
  const raw = fs.readFileSync(inFile);
  const data = new Int32Array(raw.buffer, raw.byteOffset, raw.byteLength / 4);
  const n = data.length / (h * w * 3);
  const outs = [];
  for (let i = 0; i < n; i++) {
    const x = tf.tensor4d(data.slice(i * h * w * 3, (i + 1) * h * w * 3), [1, +h, +w, 3], 'int32');
    const y = graph.execute(x);
    outs.push(Buffer.from((await y.data()).buffer));
  }
  fs.writeFileSync(outFile, Buffer.concat(outs));
}
main().catch((e) => { console.error(e); process.exit(1); });
