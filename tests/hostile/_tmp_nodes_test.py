import subprocess, os
from tests.hostile.test_ray_node_loss import two_nodes  # noqa
def test_nodes(two_nodes):
    address, env, head, worker = two_nodes
    code = "import ray, json; ray.init(address='%s', logging_level='error'); print(json.dumps([(n['NodeManagerAddress'], n['NodeName'], n['Alive']) for n in ray.nodes()]))" % address
    out = subprocess.run([".venv/bin/python", "-c", code], env=env, capture_output=True, text=True)
    print(out.stdout, out.stderr[-2000:])
    ss = subprocess.run(["ss", "-tnp"], capture_output=True, text=True).stdout
    print("MINE", [l for l in ss.splitlines() if "192.0.2.2" in l and any(str(p.pid) in l for p in head.processes()+worker.processes())][:20])
