"""Standalone Blender script: render a layered scene spec with Cycles' thin-lens camera.

Run by ``lensblur.synth.blender.render_with_cycles`` with the interpreter of the venv that holds the
PyPI ``bpy`` wheel (it pins numpy<2, so it never shares a venv with lensblur). Never imported by the
library. Usage: ``python cycles_scene.py SPEC.json``; writes the render as ``.npy`` next to the spec.

Each layer becomes a fronto-parallel quad at its depth, sized so that its pinhole projection covers
exactly its padded canvas, with an emission shader (linear colour from the layer texture, read with
"Closest" interpolation so texels are piecewise constant) mixed with a transparent BSDF by alpha. No
lights, no bounces: the pixel value is the aperture integral of the front-to-back composite, which is
what the lensblur tracer computes.
"""

import json
import sys
from pathlib import Path

import bpy
import numpy as np


def _material(name, image):
    mat = bpy.data.materials.new(name)
    mat.use_nodes = True
    nodes, links = mat.node_tree.nodes, mat.node_tree.links
    nodes.clear()
    tex = nodes.new("ShaderNodeTexImage")
    tex.image = image
    tex.interpolation = "Closest"
    tex.extension = "EXTEND"
    emission = nodes.new("ShaderNodeEmission")
    emission.inputs["Strength"].default_value = 1.0
    transparent = nodes.new("ShaderNodeBsdfTransparent")
    mix = nodes.new("ShaderNodeMixShader")
    out = nodes.new("ShaderNodeOutputMaterial")
    links.new(tex.outputs["Color"], emission.inputs["Color"])
    links.new(tex.outputs["Alpha"], mix.inputs["Fac"])
    links.new(transparent.outputs["BSDF"], mix.inputs[1])
    links.new(emission.outputs["Emission"], mix.inputs[2])
    links.new(mix.outputs["Shader"], out.inputs["Surface"])
    return mat


def main(spec_path):
    spec = json.loads(Path(spec_path).read_text())
    bpy.ops.wm.read_factory_settings(use_empty=True)
    scene = bpy.context.scene
    scene.render.engine = "CYCLES"
    scene.cycles.device = "CPU"
    scene.cycles.samples = spec["samples"]
    scene.cycles.use_adaptive_sampling = False
    scene.cycles.use_denoising = False
    scene.cycles.max_bounces = 0
    scene.cycles.transparent_max_bounces = 64
    scene.cycles.filter_width = 0.01  # sample pixel centres, like the tracer
    scene.cycles.seed = spec.get("seed", 0)
    scene.render.resolution_x = spec["width"]
    scene.render.resolution_y = spec["height"]
    scene.render.resolution_percentage = 100
    scene.render.threads_mode = "AUTO"
    scene.view_settings.view_transform = "Standard"
    world = bpy.data.worlds.new("black")
    world.use_nodes = True
    world.node_tree.nodes["Background"].inputs["Strength"].default_value = 0.0
    scene.world = world

    cam_data = bpy.data.cameras.new("camera")
    cam_data.lens = spec["focal_length_mm"]
    cam_data.sensor_fit = "HORIZONTAL"
    cam_data.sensor_width = spec["sensor_width_mm"]
    cam_data.clip_start = 0.01
    cam_data.clip_end = 1e4
    cam_data.dof.use_dof = True
    cam_data.dof.focus_distance = spec["focus_distance_m"]
    cam_data.dof.aperture_fstop = spec["f_number"]
    cam_data.dof.aperture_blades = spec["blades"]
    cam_data.dof.aperture_rotation = np.radians(spec["rotation_deg"])
    camera = bpy.data.objects.new("camera", cam_data)
    scene.collection.objects.link(camera)
    scene.camera = camera  # at the origin, looking down -Z, Y up

    width, height = spec["width"], spec["height"]
    pitch = spec["sensor_width_mm"] / width / spec["focal_length_mm"]  # world units per px at depth 1
    margin = spec["margin"]
    folder = Path(spec_path).parent
    for i, layer in enumerate(spec["layers"]):
        rgba = np.load(folder / layer["texture"]).astype(np.float32)  # (Hp, Wp, 4), row 0 at the top
        hp, wp = rgba.shape[:2]
        image = bpy.data.images.new(f"tex{i}", width=wp, height=hp, alpha=True, float_buffer=True)
        image.colorspace_settings.name = "Non-Color"
        image.alpha_mode = "CHANNEL_PACKED"
        image.pixels.foreach_set(np.ascontiguousarray(rgba[::-1]).ravel())  # Blender rows start at the bottom
        z = layer["depth_m"]
        # canvas x in [-margin - 0.5, width + margin - 0.5] -> world X at depth z
        x0 = (-margin - 0.5 + 0.5 - width / 2) * pitch * z
        x1 = (width + margin - 0.5 + 0.5 - width / 2) * pitch * z
        y0 = (height / 2 - (height + margin - 0.5 + 0.5)) * pitch * z  # bottom edge (image y grows down)
        y1 = (height / 2 - (-margin - 0.5 + 0.5)) * pitch * z
        mesh = bpy.data.meshes.new(f"layer{i}")
        mesh.from_pydata([(x0, y0, -z), (x1, y0, -z), (x1, y1, -z), (x0, y1, -z)], [], [(0, 1, 2, 3)])
        uv = mesh.uv_layers.new()
        for loop, (u, v) in zip(uv.data, [(0, 0), (1, 0), (1, 1), (0, 1)], strict=True):
            loop.uv = (u, v)
        mesh.materials.append(_material(f"mat{i}", image))
        obj = bpy.data.objects.new(f"layer{i}", mesh)
        scene.collection.objects.link(obj)

    out = folder / "cycles.exr"
    if hasattr(scene.render.image_settings, "media_type"):  # Blender >= 5.0
        scene.render.image_settings.media_type = "IMAGE"
    scene.render.image_settings.file_format = "OPEN_EXR"
    scene.render.image_settings.color_depth = "32"
    scene.render.filepath = str(out)
    bpy.ops.render.render(write_still=True)
    result = bpy.data.images.load(str(out))
    pixels = np.empty(width * height * 4, np.float32)
    result.pixels.foreach_get(pixels)
    np.save(folder / "cycles.npy", pixels.reshape(height, width, 4)[::-1, :, :3])


if __name__ == "__main__":
    main(sys.argv[sys.argv.index("--") + 1] if "--" in sys.argv else sys.argv[1])
